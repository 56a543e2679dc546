"""The model zoo: one record per model (REGISTRY: name, builder, family, reference,
image size), the tables the book reads derived from it (MODELS, TORCHVISION_NAMES,
TIMM_NAMES, IMAGE_SIZES, FIXED_SIZE; roofline.FAMILIES), `build(name)` with a clear
error, and the reference implementation (torchvision or timm) each model is proven
equal to. Registering a backbone is adding one record."""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
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

TORCHVISION, TIMM = "torchvision", "timm"


@dataclass(frozen=True)
class ModelRecord:
    """Everything the book knows about one registry model, in one place: the tables
    below (MODELS, TORCHVISION_NAMES, ...) and roofline.FAMILIES are views of these."""

    name: str  # the registry name: build(name)
    builder: Callable[..., nn.Module]  # our implementation
    family: str  # the family it is plotted and coloured with (nblib.roofline)
    reference: str | None = None  # the library it is proven equal to, if installed
    reference_name: str | None = None  # its name there, when not ours
    image_size: int = 224  # the size its reference is evaluated, counted and timed at
    fixed_size: bool = False  # takes no other size (position embeddings of one grid)

    @property
    def name_in_reference(self) -> str:
        return self.reference_name or self.name

    def __post_init__(self) -> None:
        if self.reference not in (None, TORCHVISION, TIMM):
            raise ValueError(f"{self.name}: unknown reference {self.reference!r}")


def _bn(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    return partial(builder, batch_norm=True)


R = ModelRecord
# fmt: off
REGISTRY: tuple[ModelRecord, ...] = (
    # name, builder, family, reference, its name there (if not ours), image size
    R("vgg11", vgg.vgg11, "VGG", TORCHVISION),
    R("vgg13", vgg.vgg13, "VGG", TORCHVISION),
    R("vgg16", vgg.vgg16, "VGG", TORCHVISION),
    R("vgg19", vgg.vgg19, "VGG", TORCHVISION),
    R("vgg11_bn", _bn(vgg.vgg11), "VGG", TORCHVISION),
    R("vgg13_bn", _bn(vgg.vgg13), "VGG", TORCHVISION),
    R("vgg16_bn", _bn(vgg.vgg16), "VGG", TORCHVISION),
    R("vgg19_bn", _bn(vgg.vgg19), "VGG", TORCHVISION),
    R("resnet18", resnet.resnet18, "ResNet", TORCHVISION),
    R("resnet34", resnet.resnet34, "ResNet", TORCHVISION),
    R("resnet50", resnet.resnet50, "ResNet", TORCHVISION),
    R("resnet101", resnet.resnet101, "ResNet", TORCHVISION),
    R("resnet152", resnet.resnet152, "ResNet", TORCHVISION),
    R("preact_resnet18", partial(resnet.resnet18, preact=True), "ResNet"),
    R("preact_resnet50", partial(resnet.resnet50, preact=True), "ResNet"),
    R("resnet50d", partial(resnet.resnet50, stem="deep", downsample="avg"), "ResNet",
      TIMM),
    R("seresnet50", partial(resnet.resnet50, se_reduction=16), "ResNet", TIMM),
    R("resnext50_32x4d", partial(resnet.resnet50, groups=32, width_per_group=4),
      "ResNeXt", TORCHVISION),
    R("densenet121", densenet.densenet121, "DenseNet", TORCHVISION),
    R("densenet161", densenet.densenet161, "DenseNet", TORCHVISION),
    R("densenet169", densenet.densenet169, "DenseNet", TORCHVISION),
    R("densenet201", densenet.densenet201, "DenseNet", TORCHVISION),
    R("googlenet", inception.googlenet, "Inception", TORCHVISION),
    R("inception_v3", inception.inception_v3, "Inception", TORCHVISION,
      image_size=299),
    R("vit_b_16", vit.vit_b_16, "ViT", TORCHVISION, fixed_size=True),
    R("vit_s_16", vit.vit_s_16, "ViT", TIMM, "vit_small_patch16_224", fixed_size=True),
    R("mobilenet_v1", mobilenet.mobilenet_v1, "MobileNet", TIMM, "mobilenetv1_100"),
    R("mobilenet_v2", mobilenet.mobilenet_v2, "MobileNet", TORCHVISION),
    R("shufflenet_v1_g3", partial(shufflenet.shufflenet_v1, groups=3), "ShuffleNet"),
    *(
        R(f"shufflenet_v2_x{w.replace('.', '_')}",
          partial(shufflenet.shufflenet_v2, width=w), "ShuffleNet", TORCHVISION)
        for w in ("0.5", "1.0", "1.5", "2.0")
    ),
    R("resnest50d", resnest.resnest50d, "ResNeSt", TIMM),
    R("res2net50_26w_4s", res2net.res2net50, "Res2Net", TIMM),
    R("darknet53", darknet.darknet53, "Darknet/CSP", TIMM, image_size=256),
    R("cspresnet50", cspnet.cspresnet50, "Darknet/CSP", TIMM, image_size=256),
    R("cspresnext50", cspnet.cspresnext50, "Darknet/CSP", TIMM, image_size=256),
    R("cspdarknet53", cspnet.cspdarknet53, "Darknet/CSP", TIMM, image_size=256),
    R("vovnet39a", vovnet.vovnet39, "VoVNet", TIMM),
    R("regnet_x_400mf", regnet.regnet_x_400mf, "RegNet", TORCHVISION),
    R("regnet_y_400mf", regnet.regnet_y_400mf, "RegNet", TORCHVISION),
)
# fmt: on
del R
RECORDS: dict[str, ModelRecord] = {r.name: r for r in REGISTRY}

# Views of the records, by the names chapters and tools use.
MODELS: dict[str, Callable[..., nn.Module]] = {r.name: r.builder for r in REGISTRY}
TORCHVISION_NAMES = [r.name for r in REGISTRY if r.reference == TORCHVISION]
TIMM_NAMES = {r.name: r.name_in_reference for r in REGISTRY if r.reference == TIMM}
# Each model's own input size where it is not 224: the size its reference is evaluated
# at (tests/model_costs.csv counts the zoo at the same sizes).
IMAGE_SIZES = {r.name: r.image_size for r in REGISTRY if r.image_size != 224}
FIXED_SIZE = {r.name for r in REGISTRY if r.fixed_size}


def image_size(name: str) -> int:
    """The input size a registry model is counted and timed at: its own, or 224."""
    return IMAGE_SIZES.get(name, 224)


def reference_source(name: str) -> str | None:
    """ "torchvision", "timm", or None where no installed library has the model."""
    record = RECORDS.get(name)
    return record.reference if record else None


def build_reference(name: str) -> nn.Module:
    """The reference implementation of a registered model, with random weights."""
    source = reference_source(name)
    if source == "torchvision":
        import torchvision

        # Say what torchvision defaults to, so it does not warn that it may change.
        kwargs = {"init_weights": True} if name in ("googlenet", "inception_v3") else {}
        return getattr(torchvision.models, RECORDS[name].name_in_reference)(**kwargs)
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
