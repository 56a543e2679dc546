#!/usr/bin/env bash
# Record GPU timings on a device machine (the session's `run` tool), as one prepared call.
#
# Once, here, before the call: the device image lacks torchinfo, so carry its wheel:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp -d .whl torchinfo==1.8.0
# Then: run(command="bash tools/gpu_bench.sh 500", carry=[".whl"], timeout_s=560)
# and copy $OUT's CSV from files_at into data/timings/ (to add to an existing one, append
# its rows without the header: tail -n +2 new.csv >> old.csv; the tests load every file).
#
# Argument 1: seconds to spend (the rest of the device time is start-up and transfers);
# further arguments go to every `python -m nblib.bench` call. Rows are written one by
# one as they are timed, so a run cut by the budget (timeout's SIGTERM) still returns
# every row timed before it, below the header the bench writes first. Four stages,
# most important first, each printing its wall time:
#   0. the chapters' micro-experiments (nblib.experiments: ShuffleNet guidelines, kernel
#      sizes, depthwise vs dense, fragmentation, BiFPN fusion, SPP vs SPPF), at most
#      150 s, into <device>-experiments.csv;
#   1. the backbone + neck pairs (issue 5), eager;
#   2. the whole registry with the torchvision/timm references, eager (issue 6: parity,
#      CV, the synthesis chapter); this is "the zoo" whose run time the issue asks for;
#   3. torch.compile for a few models, ours only, with what time is left (each compile
#      takes tens of seconds, so the whole zoo compiled does not fit one call).
set -euo pipefail
budget="${1:-500}"
shift || true
case "$budget" in
  ''|*[!0-9]*) echo "budget must be whole seconds, got '$budget'" >&2; exit 2 ;;
esac
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site ./.whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
start="$(date +%s)"
left() { echo "$(( budget - ($(date +%s) - start) ))"; }

stage() {  # stage NAME SECONDS ARGS...: one bench call within SECONDS, timed
  local name="$1" seconds="$2"
  shift 2
  if [ "$seconds" -le 20 ]; then echo "$name: skipped, budget spent"; return; fi
  local t0
  t0="$(date +%s)"
  timeout "$seconds" python3 -m nblib.bench --min-run-time 0.1 --out "$OUT" "$@" \
    || echo "$name: stopped at its budget"
  echo "$name: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/stages.txt"
}

cap() { local l; l="$(left)"; echo "$(( l < $1 ? l : $1 ))"; }  # at most $1 s
stage experiments "$(cap 150)" --experiments all "$@"
stage necks "$(left)" --models \
  resnet50_fpn,resnet50_panet,resnet50_bifpn,resnet50_mlfpn,darknet53_asff "$@"
backbones="$(python3 -c 'from nblib.models import MODELS; print(",".join(MODELS))')"
stage zoo "$(left)" --models "$backbones" "$@"
compiled="$(python3 -c 'from nblib.bench import COMPILED_MODELS as m; print(",".join(m))')"
stage compiled "$(left)" --compiled-only --no-references --models "$compiled" "$@"
echo "wall: $(( $(date +%s) - start )) s" | tee -a "$OUT/stages.txt"
