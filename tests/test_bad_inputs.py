"""Bad inputs and faults, as a careless user or a killed job makes them (issue 14).

Every case here failed before: a traceback from deep inside torch or pandas, a silent
wrong result, a hang, or a damaged file. Each now ends in a ValueError that names the
argument (or the file and CSV line) and what is allowed, or in the right result. The
ids make the list of bad inputs tried readable: `pytest --collect-only -q` prints it.
"""

import csv
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from bench_rows import timing_row

from nblib import bench, datafiles, measure, reference, roofline, timing
from nblib import receptive_field as rf
from nblib.models import build, shufflenet

ROOT = Path(__file__).resolve().parents[1]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only box")


@pytest.fixture
def no_timer(monkeypatch):
    """A timing that gets past the argument checks fails at once instead of timing
    (min_run_time nan or inf used to loop for ever)."""

    def refuse(*args, **kwargs):
        raise AssertionError("reached the timer: the argument was not checked")

    monkeypatch.setattr(timing.benchmark, "Timer", refuse)


def tiny() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())


# --- arguments of the public functions: ValueError naming the argument ------------

ARGUMENTS = {
    "build num_classes=-1": (lambda: build("resnet18", num_classes=-1), "num_classes"),
    "build num_classes='10'": (
        lambda: build("resnet18", num_classes="10"),
        "num_classes",
    ),
    "build num_classes=0 (empty logits)": (
        lambda: build("resnet18", num_classes=0),
        "num_classes",
    ),
    "build num_classes=None": (
        lambda: build("resnet18", num_classes=None),
        "num_classes",
    ),
    "build 1.0x ShuffleNet with width='0.5'": (
        lambda: build("shufflenet_v2_x1_0", width="0.5"),
        "fixes width='1.0'",
    ),
    "build ShuffleNet v1 g3 with groups=5 (KeyError: 5)": (
        lambda: build("shufflenet_v1_g3", groups=5),
        "fixes groups=3",
    ),
    "shufflenet_v1(groups=5) called directly (KeyError: 5)": (
        lambda: shufflenet.shufflenet_v1(groups=5),
        "groups must be one of",
    ),
    "shufflenet_v2(width='3.0') called directly (KeyError)": (
        lambda: shufflenet.shufflenet_v2(width="3.0"),
        "width must be one of",
    ),
    "time_model min_run_time=nan (hung)": (
        lambda: timing.time_model(tiny(), (1, 3, 8, 8), min_run_time=float("nan")),
        "min_run_time",
    ),
    "time_model min_run_time=inf (hung)": (
        lambda: timing.time_model(tiny(), (1, 3, 8, 8), min_run_time=float("inf")),
        "min_run_time",
    ),
    "time_model min_run_time='0.5'": (
        lambda: timing.time_model(tiny(), (1, 3, 8, 8), min_run_time="0.5"),
        "min_run_time",
    ),
    "time_model threads=0 (ignored)": (
        lambda: timing.time_model(tiny(), (1, 3, 8, 8), threads=0),
        "threads",
    ),
    "time_model threads=-2": (
        lambda: timing.time_model(tiny(), (1, 3, 8, 8), threads=-2),
        "threads",
    ),
    "time_model device='gpu'": (
        lambda: timing.time_model(tiny(), (1, 3, 8, 8), device="gpu"),
        "device",
    ),
    "layer_table max_rows=-1 (rows printed twice)": (
        lambda: measure.layer_table(tiny(), (1, 3, 8, 8), max_rows=-1),
        "max_rows",
    ),
    "layer_table depth='2'": (
        lambda: measure.layer_table(tiny(), (1, 3, 8, 8), depth="2"),
        "depth",
    ),
    "layer_table 4 channels into a 3-channel model ('Failed to run torchinfo')": (
        lambda: measure.layer_table(tiny(), (1, 4, 8, 8)),
        "input_shape .* expected input.* to have 3 channels",
    ),
    "receptive_field skip='downsampel' (ignored: 1891 px, not 435)": (
        lambda: rf.theoretical_receptive_field(build("resnet50"), skip="downsampel"),
        "skip names",
    ),
    "receptive_field_box skip=['dowsample']": (
        lambda: rf.receptive_field_box(
            build("resnet18"), (0, 0), (224, 224), skip=["dowsample"]
        ),
        "skip names",
    ),
    "compare ours=nan": (
        lambda: reference.compare(
            [
                {
                    "model": "resnet50",
                    "metric": "params",
                    "unit": "M",
                    "ours": float("nan"),
                }
            ]
        ),
        "ours must be a finite number",
    ),
    "compare ours='25e6'": (
        lambda: reference.compare(
            [{"model": "resnet50", "metric": "params", "unit": "M", "ours": "25e6"}]
        ),
        "ours must be a finite number",
    ),
    "compare a count with a paper value in %": (
        lambda: reference.compare(
            [{"model": "net", "metric": "params", "unit": "M", "ours": 1e6}],
            pd.DataFrame(
                [
                    {
                        "model": "net",
                        "metric": "params",
                        "value": 5,
                        "unit": "%",
                        "source": "X",
                    }
                ]
            ),
        ),
        "not a count unit",
    ),
    "recorded_timings device='gpu' (empty, silently)": (
        lambda: reference.recorded_timings(["resnet18"], device="gpu"),
        "device must be",
    ),
    "bench.run models=[] (ran nothing, exit 0)": (
        lambda: bench.run([], 1, 32, 0.05, Path("unused")),
        "non-empty list",
    ),
    "bench.run models='resnet18' (a string, split into letters)": (
        lambda: bench.run("resnet18", 1, 32, 0.05, Path("unused")),
        "list of names",
    ),
    "bench.run batch=2.5": (
        lambda: bench.run(["resnet18"], 2.5, 32, 0.05, Path("unused")),
        "batch must be a positive int",
    ),
    "bench.run min_run_time=nan (hung)": (
        lambda: bench.run(["resnet18"], 1, 32, float("nan"), Path("unused")),
        "min_run_time",
    ),
    "devices: peak_tflops for dtype 'int8'": (
        lambda: bench.peak_tflops("NVIDIA H200", "int8"),
        "dtype must be one of",
    ),
}


@pytest.mark.parametrize("call, message", ARGUMENTS.values(), ids=ARGUMENTS.keys())
def test_bad_argument_is_a_value_error_naming_it(call, message, no_timer):
    with pytest.raises(ValueError, match=message):
        call()


@NO_GPU
def test_device_cuda_without_a_gpu_says_so(no_timer):
    with pytest.raises(ValueError, match="device 'cuda' names a GPU"):
        timing.time_model(tiny(), (1, 3, 8, 8), device="cuda")


@NO_GPU
@pytest.mark.parametrize(
    "flags",
    [{"compile": True}, {"eager": False}],
    ids=["--compile on a CPU", "--compiled-only on a CPU"],
)
def test_compile_on_a_cpu_is_refused_not_written_as_eager(flags, tmp_path):
    with pytest.raises(ValueError, match="compile"):
        bench.run(["resnet18"], 1, 32, 0.05, tmp_path, **flags)
    assert not list(tmp_path.glob("*.csv"))


# --- silent wrong results: the right value now --------------------------------------


def test_compare_converts_the_papers_unit():
    papers = pd.DataFrame(
        [
            {
                "model": "net",
                "metric": "params",
                "value": 0.0255,
                "unit": "G",
                "source": "X 2020",
            }
        ]
    )
    row = reference.compare(
        [{"model": "net", "metric": "params", "unit": "M", "ours": 25.5e6}], papers
    ).iloc[0]
    assert (row.paper, row["ours vs paper"]) == (25.5, "+0.0%")  # was 0.0255, +99900%


def test_layer_table_max_rows_zero_shows_no_row_and_says_how_many_were_cut():
    full = measure.layer_table(build("resnet18"), (1, 3, 32, 32), max_rows=None)
    cut = measure.layer_table(build("resnet18"), (1, 3, 32, 32), max_rows=0)
    rows = len(full.splitlines()) - len(cut.splitlines()) + 1
    assert f"... {rows} rows cut ..." in cut  # was: "0 rows cut" and every row
    assert (
        len(
            measure.layer_table(
                build("resnet18"), (1, 3, 32, 32), max_rows=3
            ).splitlines()
        )
        == len(cut.splitlines()) + 3
    )


def test_time_model_gives_back_the_callers_model_as_it_was():
    model = tiny().train()
    timing.time_model(model, (1, 3, 8, 8), channels_last=True, min_run_time=0.01)
    assert model.training and model[0].weight.is_contiguous()


# --- data files: one loader each, errors with the file and the CSV line -------------

PAPERS_HEADER = "model,metric,value,unit,source\n"
GOOD_PAPER = "resnet50,params,25.6,M,He et al. 2016\n"
PAPERS = {
    "unit 'Mi' (not a unit)": ("resnet50,params,25.6,Mi,He et al. 2016\n", 2, "unit"),
    "params in % (not a count)": ("resnet50,params,25.6,%,He et al. 2016\n", 2, "unit"),
    "model name with a trailing space": (
        "resnet50 ,macs,4.1,G,He et al. 2016\n",
        2,
        "model",
    ),
    "model + metric twice": (GOOD_PAPER, 3, "repeats line 2"),
    "value nan": ("resnet50,macs,nan,G,He et al. 2016\n", 2, "value"),
    "value -1": ("resnet50,macs,-1,G,He et al. 2016\n", 2, "value"),
    "value 'four'": ("resnet50,macs,four,G,He et al. 2016\n", 2, "value"),
    "a row with a sixth field": ("resnet50,macs,4.1,G,He et al.,2016\n", 2, "6 fields"),
    "a row cut short": ("resnet50,macs,4.1\n", 2, "3 fields"),
    "empty source": ("resnet50,macs,4.1,G,\n", 2, "source"),
}


@pytest.mark.parametrize("row, line, message", PAPERS.values(), ids=PAPERS.keys())
def test_bad_papers_row_names_file_and_line(row, line, message, tmp_path):
    path = tmp_path / "papers.csv"
    body = GOOD_PAPER + row if line == 3 else row
    path.write_text(PAPERS_HEADER + body)
    with pytest.raises(ValueError, match=f"papers.csv, line {line}: .*{message}"):
        reference.paper_values(path)


def test_papers_file_with_another_schema(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text("model,metric,value,source\n" + "resnet50,params,25.6,He 2016\n")
    with pytest.raises(ValueError, match="papers.csv, line 1: the columns must be"):
        reference.paper_values(path)


DEVICES_HEADER = "device_pattern,dtype,peak_tflops,bandwidth_gbs,source\n"
GOOD_DEVICE = "H200,bf16,989.5,4800,datasheet\n"
DEVICES = {
    "empty device pattern (every GPU matched, peak 1.0)": (
        ",bf16,1.0,1000,made up\n",
        3,
        "device_pattern",
    ),
    "the same row twice (second shadowed)": (GOOD_DEVICE, 3, "repeats line 2"),
    "bandwidth 0": ("H100 PCIe,bf16,756,0,datasheet\n", 3, "bandwidth_gbs"),
    "peak inf": ("H100 PCIe,bf16,inf,2000,datasheet\n", 3, "peak_tflops"),
    "dtype int8": ("H100 PCIe,int8,1513,2000,datasheet\n", 3, "dtype"),
    "pattern inside another ('H2' in 'H200')": (
        "H2,bf16,1,1,made up\n",
        3,
        "occurs in",
    ),
}
READERS = {
    "bench.peak_tflops": bench.peak_tflops,
    "roofline.device_roof": roofline.device_roof,
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("row, line, message", DEVICES.values(), ids=DEVICES.keys())
def test_bad_devices_row_names_file_and_line_in_both_readers(
    row, line, message, reader, tmp_path
):
    path = tmp_path / "devices.csv"
    path.write_text(DEVICES_HEADER + GOOD_DEVICE + row)
    with pytest.raises(ValueError, match=f"devices.csv, line {line}: .*{message}"):
        reader("NVIDIA H200", "bf16", path)


def write_timings(path: Path, *rows: dict, header: list[str] | None = None) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header or bench.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


TIMINGS = {
    "median_ms nan": ({"median_ms": "nan"}, "median_ms"),
    "median_ms empty": ({"median_ms": ""}, "median_ms"),
    "batch 0": ({"batch": 0}, "batch"),
    "batch 1.5": ({"batch": 1.5}, "batch"),
    "cv -0.1": ({"cv": -0.1}, "cv"),
    "peak_tflops inf": ({"peak_tflops": "inf"}, "peak_tflops"),
    "dtype fp64": ({"dtype": "fp64"}, "dtype"),
    "device 'CUDA' (filtered out silently)": ({"device": "CUDA"}, "device"),
    "compiled 'yes'": ({"compiled": "yes"}, "compiled"),
    "date 01/12/2026": ({"date": "01/12/2026"}, "date"),
    "model ' resnet18'": ({"model": " resnet18"}, "model"),
    "implementation empty": ({"implementation": ""}, "implementation"),
}


@pytest.mark.parametrize("change, message", TIMINGS.values(), ids=TIMINGS.keys())
def test_bad_timing_row_names_file_and_line(change, message, tmp_path):
    write_timings(tmp_path / "gpu.csv", timing_row(), timing_row(**change))
    with pytest.raises(ValueError, match=f"gpu.csv, line 3: {message}"):
        reference.recorded_timings(["resnet18"], directory=tmp_path)


def test_timings_recorded_models_must_be_a_list(tmp_path):
    write_timings(tmp_path / "gpu.csv", timing_row())
    with pytest.raises(ValueError, match="models must be a list"):
        reference.recorded_timings("resnet18", directory=tmp_path)


DAMAGED = {
    "0-byte file of a killed run": ("", "is empty"),
    "rows without a header (appended after a kill)": (
        ",".join(map(str, timing_row().values())) + "\n",
        "line 1: the columns must be",
    ),
    "a row fused onto a last line without newline": (
        ",".join(bench.COLUMNS)
        + "\n"
        + ",".join(map(str, timing_row().values()))
        + ",".join(map(str, timing_row().values()))
        + "\n",
        "line 2: 49 fields where the header has 25",
    ),
    "a core column missing": (
        ",".join(bench.COLUMNS[:-1])
        + "\n"
        + ",".join(map(str, list(timing_row().values())[:-1]))
        + "\n",
        "line 1: the columns must be",
    ),
}


@pytest.mark.parametrize("text, message", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_timing_file_names_file_and_line(text, message, tmp_path):
    (tmp_path / "gpu.csv").write_text(text)
    with pytest.raises(ValueError, match=f"gpu.csv.*{message}"):
        reference.recorded_timings(["resnet18"], directory=tmp_path)


# --- the benchmark file: nothing appended to a file it would damage ------------------

QUICK = {
    "batch": 1,
    "image_size": 32,
    "min_run_time": 0.01,
    "references": False,
    "repeats": 1,
}


def device_file(tmp_path: Path) -> Path:
    return bench.out_file(tmp_path, timing.best_device())


@pytest.mark.parametrize(
    "text, message",
    [
        (
            ",".join(bench.COLUMNS) + "\n" + ",".join(map(str, timing_row().values())),
            "does not end with a newline",
        ),
        ("model,device,median_ms\nresnet18,cuda,1.0\n", "not the benchmark's"),
    ],
    ids=["last line without newline (next row fused)", "another schema"],
)
def test_bench_refuses_to_append_to_a_file_it_would_damage(text, message, tmp_path):
    path = device_file(tmp_path)
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        bench.run(["resnet18"], out_dir=tmp_path, **QUICK)
    assert path.read_text() == text


def test_bench_writes_a_header_into_the_empty_file_a_killed_run_left(tmp_path):
    path = device_file(tmp_path)
    path.write_text("")
    bench.run(["resnet18"], out_dir=tmp_path, **QUICK)
    assert list(datafiles.load_timings(path).model) == ["resnet18"]


def test_bench_flushes_each_row_as_it_is_timed(tmp_path, monkeypatch):
    path, seen = device_file(tmp_path), []
    real = bench.time_model

    def spy(model, shape, **kwargs):
        seen.append(path.read_text().count("\n"))  # lines on disk before this timing
        return real(model, shape, **kwargs)

    cpu = {"batch": 1, "dtype": "fp32", "channels_last": False, "compile": False}
    monkeypatch.setattr(bench, "configurations", lambda *a: [cpu, cpu | {"batch": 2}])
    monkeypatch.setattr(bench, "time_model", spy)
    bench.run(["resnet18"], out_dir=tmp_path, **QUICK)
    assert seen == [1, 2]  # the header at once, the first row before the second timing


def test_sigterm_leaves_a_file_with_its_header_that_later_runs_append_to(tmp_path):
    command = [
        sys.executable,
        "-m",
        "nblib.bench",
        "--models",
        "resnet18",
        "--min-run-time",
        "60",
        "--repeats",
        "1",
        "--no-references",
        "--image-size",
        "32",
        "--out",
        str(tmp_path),
    ]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    job = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("*.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    job.send_signal(signal.SIGTERM)  # what `timeout` in tools/gpu_bench.sh sends
    job.communicate(timeout=30)
    assert job.returncode != 0
    (path,) = tmp_path.glob("*.csv")
    assert datafiles.load_timings(path).empty  # was: a 0-byte file, for good
    bench.run(["resnet18"], out_dir=tmp_path, **QUICK)
    assert list(datafiles.load_timings(path).model) == ["resnet18"]


CLI = {
    "--min-run-time nan (hung)": (["--min-run-time", "nan"], "--min-run-time"),
    "--min-run-time -1": (["--min-run-time", "-1"], "--min-run-time"),
    "--batch 0": (["--batch", "0"], "--batch"),
    "--repeats -1": (["--repeats", "-1"], "--repeats"),
    "--image-size 0": (["--image-size", "0"], "--image-size"),
    "--models '' (ran the default models)": (["--models", ""], "--models"),
    "--models 'resnet18,'": (["--models", "resnet18,"], "--models"),
    "--models resnet51": (["--models", "resnet51"], "not registered"),
}


@pytest.mark.parametrize("args, message", CLI.values(), ids=CLI.keys())
def test_bench_cli_rejects_bad_arguments_with_a_usage_error(
    args, message, tmp_path, capsys, no_timer
):
    with pytest.raises(SystemExit) as exit_:
        bench.main([*args, "--out", str(tmp_path), "--no-references"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.csv"))


# --- supply chain: pinned versions and actions, tools that delete only their own ------


def requirement_ranges(lines) -> dict[str, str]:
    ranges = {}
    for line in lines:
        spec = line.split("#")[0].strip()
        name = spec.split(">")[0].split("=")[0].split("<")[0].strip()
        if name and not spec.startswith("-"):
            ranges[name] = spec[len(name) :].replace(" ", "")
    return ranges


def test_pyproject_dependencies_have_the_ranges_of_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = requirement_ranges(project["dependencies"])
    wanted = requirement_ranges((ROOT / "requirements.txt").read_text().splitlines())
    assert pinned == {name: wanted[name] for name in pinned}
    assert all("<" in spec for spec in pinned.values())  # was: numpy, pandas unbounded


def test_pages_workflow_pins_actions_and_limits_write_permissions():
    workflow = yaml.safe_load((ROOT / ".github/workflows/publish.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert "permissions" not in jobs["build"]
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[^@]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_colab_simulation_removes_no_folder_it_did_not_make(tmp_path):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    result = subprocess.run(
        ["bash", "tools/colab_simulation.sh"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"COLAB_SIM_DIR": str(precious)},
    )
    assert result.returncode != 0 and "refusing to remove" in result.stderr
    assert (precious / "thesis.tex").read_text() == "years of work"
