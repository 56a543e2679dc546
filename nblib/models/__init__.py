"""The model zoo: a plain dict from name to builder, `build(name)` with a clear error,
and the reference implementation (torchvision or timm) each model is proven equal to."""

import warnings
from collections.abc import Callable
from functools import partial

from torch import nn

from nblib.blocks.checks import check_positive
from nblib.models import (
    cspnet,
    darknet,
    densenet,
    inception,
    mobilenet,
    regnet,
    res2net,
    resnest,
    resnet,
    shufflenet,
    vgg,
    vit,
    vovnet,
)

MODELS: dict[str, Callable[..., nn.Module]] = {
    "vgg11": vgg.vgg11,
    "vgg13": vgg.vgg13,
    "vgg16": vgg.vgg16,
    "vgg19": vgg.vgg19,
    "vgg11_bn": partial(vgg.vgg11, batch_norm=True),
    "vgg13_bn": partial(vgg.vgg13, batch_norm=True),
    "vgg16_bn": partial(vgg.vgg16, batch_norm=True),
    "vgg19_bn": partial(vgg.vgg19, batch_norm=True),
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
    "resnet152": resnet.resnet152,
    "preact_resnet18": partial(resnet.resnet18, preact=True),
    "preact_resnet50": partial(resnet.resnet50, preact=True),
    "resnet50d": partial(resnet.resnet50, stem="deep", downsample="avg"),
    "seresnet50": partial(resnet.resnet50, se_reduction=16),
    "resnext50_32x4d": partial(resnet.resnet50, groups=32, width_per_group=4),
    "densenet121": densenet.densenet121,
    "densenet161": densenet.densenet161,
    "densenet169": densenet.densenet169,
    "densenet201": densenet.densenet201,
    "googlenet": inception.googlenet,
    "inception_v3": inception.inception_v3,
    "vit_b_16": vit.vit_b_16,
    "vit_s_16": vit.vit_s_16,
    "mobilenet_v1": mobilenet.mobilenet_v1,
    "mobilenet_v2": mobilenet.mobilenet_v2,
    "shufflenet_v1_g3": partial(shufflenet.shufflenet_v1, groups=3),
    "shufflenet_v2_x0_5": partial(shufflenet.shufflenet_v2, width="0.5"),
    "shufflenet_v2_x1_0": partial(shufflenet.shufflenet_v2, width="1.0"),
    "shufflenet_v2_x1_5": partial(shufflenet.shufflenet_v2, width="1.5"),
    "shufflenet_v2_x2_0": partial(shufflenet.shufflenet_v2, width="2.0"),
    "resnest50d": resnest.resnest50d,
    "res2net50_26w_4s": res2net.res2net50,
    "darknet53": darknet.darknet53,
    "cspresnet50": cspnet.cspresnet50,
    "cspresnext50": cspnet.cspresnext50,
    "cspdarknet53": cspnet.cspdarknet53,
    "vovnet39a": vovnet.vovnet39,
    "regnet_x_400mf": regnet.regnet_x_400mf,
    "regnet_y_400mf": regnet.regnet_y_400mf,
}


TORCHVISION_NAMES = [  # same name in torchvision.models
    *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
    "resnext50_32x4d",
    *(f"densenet{d}" for d in (121, 161, 169, 201)),
    "googlenet",
    "inception_v3",
    "vit_b_16",
    "mobilenet_v2",
    *(f"shufflenet_v2_x{w}" for w in ("0_5", "1_0", "1_5", "2_0")),
    "regnet_x_400mf",
    "regnet_y_400mf",
]
TIMM_NAMES = {  # ours: timm's
    "resnet50d": "resnet50d",
    "seresnet50": "seresnet50",
    "resnest50d": "resnest50d",
    "res2net50_26w_4s": "res2net50_26w_4s",
    "darknet53": "darknet53",
    "cspresnet50": "cspresnet50",
    "cspresnext50": "cspresnext50",
    "cspdarknet53": "cspdarknet53",
    "vovnet39a": "vovnet39a",
    "vit_s_16": "vit_small_patch16_224",
    "mobilenet_v1": "mobilenetv1_100",
}


# Each model's own input size where it is not 224: the size its reference is evaluated
# at (tests/model_costs.csv counts the zoo at the same sizes).
IMAGE_SIZES = {
    "inception_v3": 299,
    "darknet53": 256,
    "cspresnet50": 256,
    "cspresnext50": 256,
    "cspdarknet53": 256,
}
FIXED_SIZE = {"vit_b_16", "vit_s_16"}  # position embeddings learned for 224 only


def image_size(name: str) -> int:
    """The input size a registry model is counted and timed at: its own, or 224."""
    return IMAGE_SIZES.get(name, 224)


def reference_source(name: str) -> str | None:
    """ "torchvision", "timm", or None where no installed library has the model."""
    if name in TORCHVISION_NAMES:
        return "torchvision"
    return "timm" if name in TIMM_NAMES else None


def build_reference(name: str) -> nn.Module:
    """The reference implementation of a registered model, with random weights."""
    source = reference_source(name)
    if source == "torchvision":
        import torchvision

        # Say what torchvision defaults to, so it does not warn that it may change.
        kwargs = {"init_weights": True} if name in ("googlenet", "inception_v3") else {}
        return getattr(torchvision.models, name)(**kwargs)
    if source == "timm":
        with warnings.catch_warnings():  # timm imports tqdm, which warns in a notebook
            warnings.filterwarnings("ignore", "IProgress not found")
            import timm

        return timm.create_model(TIMM_NAMES[name], pretrained=False)
    raise ValueError(f"model {name!r} has no reference implementation installed")


def build(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name, e.g. `build("resnet50", num_classes=10)`.
    What the name fixes (ShuffleNet's width, ResNeXt's groups) cannot be overridden."""
    if not isinstance(name, str) or name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"model name {name!r} is not registered; known names: {known}")
    fixed = getattr(MODELS[name], "keywords", {})  # a partial's bound arguments
    clash = sorted(kwargs.keys() & fixed.keys())
    if clash:
        raise ValueError(
            f"{name} fixes {', '.join(f'{k}={fixed[k]!r}' for k in clash)}; got "
            f"{', '.join(f'{k}={kwargs[k]!r}' for k in clash)}: build the variant by "
            "its own name or call its builder"
        )
    num_classes = kwargs.get("num_classes", 1000)
    if num_classes is None:  # check_positive lets None through as "not used"
        raise ValueError("num_classes must be a positive int, got None")
    check_positive(num_classes=num_classes)
    return MODELS[name](**kwargs)
