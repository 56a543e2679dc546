#!/usr/bin/env bash
# Simulate a reader pressing "Open in Colab": a fresh Python 3.12 environment with only
# what Colab preinstalls that the chapters rely on (torch, torchvision, matplotlib, the
# Jupyter kernel), then each notebook's own setup cell installs nblib at the release tag
# it pins (v<version of pyproject.toml>), here from a local clone of the committed HEAD,
# tagged as `tools/release.py` and the release step would tag it, instead of GitHub.
# Usage: tools/colab_simulation.sh [chapter ...]; it runs every chapter given, prints one
# line per chapter (status, seconds) and fails if any failed.
# Slow (downloads PyTorch for Python 3.12), so it is not part of `make test`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${COLAB_SIM_DIR:-/tmp/colab-sim}"
if [ "$#" -gt 0 ]; then
  chapters=("$@")
else
  chapters=(chapters/01_measuring_cost.ipynb chapters/03_resnet.ipynb)
fi
tag="v$(sed -n 's/^version = "\([^"]*\)".*/\1/p' "$repo/pyproject.toml")"   # the pin
url="$(python3 -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["repository"]["url"])' "$repo/_config.yml" 2>/dev/null \
      || grep -A1 '^repository:' "$repo/_config.yml" | sed -n 's/.*url: *\([^ ]*\).*/\1/p')"

# Remove only a folder this script made (it leaves a marker): COLAB_SIM_DIR=$HOME must
# not wipe a home directory.
if [ -e "$work" ] && [ ! -f "$work/.made-by-colab-simulation" ]; then
  echo "refusing to remove $work: it was not made by $0 (no marker file)" >&2
  exit 1
fi
rm -rf -- "$work"
mkdir -p "$work/fake/google/colab"
touch "$work/.made-by-colab-simulation"
git clone -q "$repo" "$work/clone"
# What GitHub serves at the tag once this commit is released (only committed work counts).
git -C "$work/clone" tag -f "$tag" HEAD >/dev/null
if [ -n "$(git -C "$repo" status --porcelain -- nblib pyproject.toml)" ]; then
  echo "note: uncommitted changes to nblib/ or pyproject.toml are not in the clone" >&2
fi
# "We are on Colab": Colab's kernel has google.colab imported before the first cell runs.
touch "$work/fake/google/__init__.py" "$work/fake/google/colab/__init__.py"
echo "import google.colab" > "$work/fake/sitecustomize.py"
"${PYTHON312:-python3.12}" -m venv "$work/venv"   # PYTHON312 overrides the interpreter
"$work/venv/bin/pip" install -q --upgrade pip   # Colab ships a current pip
"$work/venv/bin/pip" install -q torch torchvision matplotlib ipykernel nbclient nbformat
summary=()
failed=0
for nb in "${chapters[@]}"; do
  name="$(basename "$nb")"
  # The setup cell's install line, pointed at the local clone instead of GitHub.
  sed "s|git+$url@$tag|git+file://$work/clone@$tag|" "$repo/$nb" > "$work/$name"
  if ! grep -q "git+file://$work/clone@$tag" "$work/$name"; then
    echo "$name: its setup cell does not install nblib at $tag" >&2
    summary+=("FAIL  -  $name (no install of $tag)"); failed=1; continue
  fi
  echo "== $name"
  start=$SECONDS
  if (cd "$work" && PYTHONPATH="$work/fake" "$work/venv/bin/python" - "$name" <<'PY'
import sys, time, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
start = time.time()
try:
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
except CellExecutionError as error:
    print(str(error)[-3000:])
    nbformat.write(nb, path)  # the executed copy, to read the failing cell
    sys.exit(1)
nbformat.write(nb, path)
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
print(f"{path}: {len(nb.cells)} cells executed in {time.time() - start:.0f} s, {len(errors)} errors")
sys.exit(1 if errors else 0)
PY
  ); then
    summary+=("ok   $((SECONDS - start))s  $name")
  else
    summary+=("FAIL $((SECONDS - start))s  $name"); failed=1
  fi
done
echo "== nblib $tag, Python $("$work/venv/bin/python" -c 'import platform; print(platform.python_version())')"
printf '%s\n' "${summary[@]}"
exit "$failed"
