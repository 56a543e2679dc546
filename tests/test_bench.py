"""python -m nblib.bench: complete rows for ours and the reference, necks at their own
size, peaks from data/devices.csv."""

import csv

import pytest
import torch

from nblib import bench, datafiles, measure, reference
from nblib.models import build


def read(path):
    return list(csv.DictReader(path.open()))


def quick_run(models, tmp_path, **settings):
    """bench.run at the tests' quick settings (batch 1, 32x32, 0.02 s, one repeat),
    writing into tmp_path; `settings` overrides any of them."""
    quick = {"batch": 1, "image_size": 32, "min_run_time": 0.02, "repeats": 1}
    return bench.run(models, out_dir=tmp_path, **(quick | settings))


def test_bench_appends_rows_for_ours_and_the_reference(tmp_path):
    for _ in range(2):  # a second run appends below the same header
        path = quick_run(["resnet18"], tmp_path, batch=2, repeats=2)
    rows = read(path)
    assert len(rows) == 4 and set(rows[0]) == set(bench.COLUMNS)
    assert [r["implementation"] for r in rows] == ["nblib", "torchvision"] * 2
    assert {r["params"] for r in rows} == {"11689512"}
    assert rows[0]["macs"] == rows[1]["macs"] and int(rows[0]["memory_access"]) > 0
    assert all(float(r["median_ms"]) > 0 and float(r["cv"]) >= 0 for r in rows)
    # Counted before timing, on one image: the same numbers as measure counts.
    model = build("resnet18")
    assert int(rows[0]["macs"]) == measure.count_macs(model, (1, 3, 32, 32))
    assert int(rows[0]["memory_access"]) == measure.memory_access_cost(
        model, (1, 3, 32, 32)
    )
    macs, rate = int(rows[0]["macs"]), float(rows[0]["images_per_s"])
    assert float(rows[0]["tflops"]) == pytest.approx(2 * macs * rate / 1e12, abs=1e-3)


def test_bench_without_references_and_unknown_models(tmp_path):
    path = quick_run(["mobilenet_v1"], tmp_path, references=False)
    assert [r["implementation"] for r in read(path)] == ["nblib"]
    with pytest.raises(ValueError, match="not registered"):
        quick_run(["resnet51"], tmp_path)
    with pytest.raises(ValueError, match="repeats"):
        quick_run(["resnet18"], tmp_path, repeats=0)


def test_bench_times_a_neck_at_its_own_image_size(tmp_path, monkeypatch):
    from nblib.necks import BackboneWithNeck
    from nblib.necks.fpn import FPN

    def tiny():
        return BackboneWithNeck(build("resnet18"), FPN([128, 256], 8), [1, 2])

    monkeypatch.setitem(bench.NECK_MODELS, "tiny_fpn", (tiny, 48))
    path = quick_run(["tiny_fpn"], tmp_path, image_size=224)
    (row,) = read(path)
    assert row["model"] == "tiny_fpn" and row["image_size"] == "48"
    fpn = (128 + 256) * 8 + 2 * 8 + 2 * (9 * 64 + 8)  # laterals, outputs, biases
    assert int(row["params"]) == 11_689_512 + fpn


def test_gpu_configurations_cover_the_grid():
    eager = bench.configurations("cuda", 128, compile=False)
    assert len(eager) == 8 and {c["batch"] for c in eager} == {1, 128}
    compiled = bench.configurations("cuda", 128, compile=True)
    assert [c for c in compiled if c["compile"]] == [
        {"batch": b, "dtype": "bf16", "channels_last": True, "compile": True}
        for b in (1, 128)
    ]
    assert bench.configurations("cuda", 128, compile=True, eager=False) == [
        c for c in compiled if c["compile"]
    ]
    assert bench.configurations("cpu", 128, compile=True) == [
        {"batch": 1, "dtype": "fp32", "channels_last": False, "compile": False}
    ]


def test_peaks_come_from_the_device_table(monkeypatch):
    assert bench.peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.5
    assert bench.peak_tflops("NVIDIA H200", "bf16") == 989.5
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    assert bench.peak_tflops("NVIDIA H200", "fp32") == 494.5  # convs run as TF32
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    assert bench.peak_tflops("NVIDIA H200", "fp32") == 67
    assert bench.peak_tflops("AMD EPYC", "fp32") is None


def test_vits_run_at_their_own_size(tmp_path):
    path = quick_run(["vit_s_16"], tmp_path, references=False)
    assert [r["image_size"] for r in read(path)] == ["224"]


def test_timings_of_ours_and_the_reference_alternate(tmp_path, monkeypatch):
    order = []
    real = bench.time_model

    def spy(model, shape, **kwargs):
        order.append(type(model).__module__.split(".")[0])
        return real(model, shape, **kwargs)

    monkeypatch.setattr(bench, "time_model", spy)
    quick_run(["resnet18"], tmp_path, repeats=3)
    assert order == ["nblib", "torchvision"] * 3


def test_models_run_at_their_own_size_by_default(tmp_path):
    path = quick_run(["cspresnet50"], tmp_path, image_size=None, references=False)
    assert [r["image_size"] for r in read(path)] == ["256"]


def test_a_failing_model_is_reported_after_the_others(tmp_path, monkeypatch):
    real = bench.time_model

    def fails_for_resnet18(model, shape, *, name, **kwargs):
        if name == "resnet18":
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, shape, name=name, **kwargs)

    monkeypatch.setattr(bench, "time_model", fails_for_resnet18)
    with pytest.raises(RuntimeError, match=r"1 of 2 models failed.*resnet18 \(OutOf"):
        quick_run(["resnet18", "mobilenet_v1"], tmp_path, references=False)
    (path,) = tmp_path.glob("*.csv")
    assert [r["model"] for r in read(path)] == ["mobilenet_v1"]


@pytest.mark.parametrize("name", bench.COMPILED_MODELS)
def test_the_compiled_stage_models_trace_to_one_graph(name):
    # fullgraph: torch.compile would raise at the first graph break; the eager backend
    # checks Dynamo's tracing without compiling kernels (shapes only, on meta).
    torch._dynamo.reset()
    with torch.device("meta"):
        model = build(name).eval()
    size = 224 if name.startswith("vit") else 64
    x = torch.randn(1, 3, size, size, device="meta")
    with torch.no_grad():
        out = torch.compile(model, backend="eager", fullgraph=True)(x)
    assert out.shape == (1, 1000)


def test_an_experiment_runs_tiny_on_a_cpu_and_reads_back(tmp_path):
    """Every row of a named experiment carries its group and variant, per-image costs,
    and loads through the timings loader; reference.recorded_experiment finds it."""
    path = bench.run_experiments(
        ["spp_vs_sppf"], 0.01, tmp_path, repeats=2, batch=1, hw=8
    )
    assert path.name.endswith("-experiments.csv")
    table = datafiles.load_timings(path)
    assert list(table.variant) == ["SPP", "SPPF"] and set(table.experiment) == {
        "1024 channels"
    }
    assert table.macs.nunique() == 1 and (table.median_ms > 0).all()
    assert (table.device == "cpu").all()  # a CPU row: never a GPU verdict
    again = bench.run_experiments(
        ["spp_vs_sppf"], 0.01, tmp_path, repeats=2, batch=1, hw=8
    )
    assert again == path and len(datafiles.load_timings(path)) == 4  # appended
    rows = reference.recorded_experiment("1024", device="cpu", directory=tmp_path)
    assert len(rows) == 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--experiments", "g1"], "unknown experiments"),
        (["--experiments", "spp_vs_sppf", "--models", "resnet18"], "separate runs"),
    ],
)
def test_experiment_arguments_are_checked(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.main(argv)
    assert message in capsys.readouterr().err
