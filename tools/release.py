"""Set the book's release and rewrite every copy of it: `python tools/release.py 0.2.0`.

The pin lives in one place, `version` in pyproject.toml. A reader who opens a chapter in
Colab must get the nblib that chapter was written for, so the release's git tag
`v<version>` is copied into
- each chapter's setup cell: `%pip install "nblib @ git+<repository url>@v<version>"`;
- `_config.yml`'s `repository.branch`, from which Jupyter Book forms the Colab button's
  `.../blob/v<version>/chapters/<nb>.ipynb`, so the notebook opened at tag vX installs
  nblib at tag vX.
Tests check each copy against pyproject.toml; `--check` lists the copies that disagree.
After running it: commit, `git tag v<version>`, push the commit and the tag
(CONTRIBUTING.md, "Releasing").
"""

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.compile(r"\d+\.\d+\.\d+")
PYPROJECT_VERSION = re.compile(r'^version = "([^"]*)"', flags=re.M)
# `branch:` inside the top-level `repository:` block of _config.yml (comments kept).
CONFIG_BRANCH = re.compile(
    r"^(repository:\n(?:[ \t]+.*\n)*?[ \t]+branch:[ \t]*)(\S+)", re.M
)


def read_version(root: Path = ROOT) -> str:
    """The pin: pyproject.toml's project version."""
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def tag(version: str) -> str:
    """The git tag a release gets, and the ref every copy points at."""
    return f"v{version}"


def install_ref(url: str) -> re.Pattern[str]:
    """The setup cell's install URL for `url`, capturing the git ref after `@`."""
    return re.compile(rf"(git\+{re.escape(url)}@)([^\"'\s]+)")


def chapters(root: Path) -> list[Path]:
    return sorted((root / "chapters").glob("*.ipynb"))


def setup_refs(notebook: Path, url: str) -> list[str]:
    """The refs the notebook's first code cell installs nblib from."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    first = next(c for c in cells if c["cell_type"] == "code")
    return [ref for _, ref in install_ref(url).findall("".join(first["source"]))]


def rewrite_notebook(notebook: Path, url: str, ref: str) -> bool:
    """Point the setup cell's install line at `ref`; touch nothing else (outputs stay:
    the cell prints the same). Returns whether the file changed."""
    text = notebook.read_text(encoding="utf-8")
    nb = json.loads(text)
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    first["source"] = [
        install_ref(url).sub(rf"\g<1>{ref}", line) for line in first["source"]
    ]
    # nbformat's own layout, so that the diff is the install line alone
    new = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if new != text:
        notebook.write_text(new, encoding="utf-8")
    return new != text


def disagreements(root: Path = ROOT) -> list[str]:
    """Every derived copy that does not point at the pinned release's tag."""
    ref = tag(read_version(root))
    config = yaml.safe_load((root / "_config.yml").read_text())
    url = config["repository"]["url"]
    found = []
    if config["repository"].get("branch") != ref:
        found.append(
            f"_config.yml repository.branch: {config['repository'].get('branch')}"
        )
    for notebook in chapters(root):
        refs = setup_refs(notebook, url)
        if refs != [ref]:
            found.append(f"{notebook.relative_to(root)} setup cell installs {refs}")
    return found


def release(version: str, root: Path = ROOT) -> list[Path]:
    """Write `version` into pyproject.toml and its tag into every copy; return the files
    that changed."""
    if not VERSION.fullmatch(version):
        raise ValueError(f"version must look like 1.2.3, got {version!r}")
    ref = tag(version)
    changed = []
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    if len(PYPROJECT_VERSION.findall(text)) != 1:
        raise ValueError(f'{pyproject} must hold exactly one `version = "..."` line')
    new = PYPROJECT_VERSION.sub(f'version = "{version}"', text)
    config_path = root / "_config.yml"
    config_text = config_path.read_text()
    if not CONFIG_BRANCH.search(config_text):
        raise ValueError(f"{config_path} has no `branch:` under `repository:`")
    new_config = CONFIG_BRANCH.sub(rf"\g<1>{ref}", config_text, count=1)
    for path, before, after in [
        (pyproject, text, new),
        (config_path, config_text, new_config),
    ]:
        if after != before:
            path.write_text(after)
            changed.append(path)
    url = yaml.safe_load(new_config)["repository"]["url"]
    changed += [nb for nb in chapters(root) if rewrite_notebook(nb, url, ref)]
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("version", nargs="?", help="the new version, e.g. 0.2.0")
    group.add_argument(
        "--check", action="store_true", help="list copies that disagree with the pin"
    )
    args = parser.parse_args(argv)
    if args.check:
        found = disagreements()
        print("\n".join(found) or f"every copy points at {tag(read_version())}")
        return 1 if found else 0
    try:
        changed = release(args.version)
    except ValueError as error:
        parser.error(str(error))
    for path in changed:
        print(f"rewrote {path.relative_to(ROOT)}")
    print(
        f"now: commit, then `git tag {tag(args.version)}` and "
        f"`git push origin main {tag(args.version)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
