#!/usr/bin/env bash
# Record GPU timings on a device machine (the session's `run` tool), as one prepared call.
#
# Once, here, before the call: the device image lacks torchinfo, so carry its wheel:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp -d .whl torchinfo==1.8.0
# Then: run(command="bash tools/gpu_bench.sh 500", carry=[".whl"], timeout_s=560)
# and copy $OUT's CSV from files_at into data/timings/ (append to an existing one).
#
# Argument 1: seconds to spend (the rest of the device time is start-up and transfers);
# further arguments go to `python -m nblib.bench`. Rows are written as they are timed, so
# a run cut by the timeout still returns everything timed so far. Necks first (issue 5),
# then the whole zoo with the references (issue 6).
set -euo pipefail
budget="${1:-500}"
shift || true
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
start=$(date +%s)
necks="resnet50_fpn,resnet50_panet,resnet50_bifpn,resnet50_mlfpn,darknet53_asff"
timeout "$budget" python3 -m nblib.bench --models "$necks" --min-run-time 0.2 \
  --out "$OUT" "$@" || echo "necks stopped at the budget"
left=$(( budget - ($(date +%s) - start) ))
if [ "$left" -gt 30 ]; then
  backbones=$(python3 -c 'from nblib.models import MODELS; print(",".join(MODELS))')
  timeout "$left" python3 -m nblib.bench --models "$backbones" --min-run-time 0.2 \
    --out "$OUT" "$@" \
    || echo "zoo stopped at the budget"
fi
echo "wall: $(( $(date +%s) - start )) s"
