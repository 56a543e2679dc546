"""tools/release.py: one version in pyproject.toml, every copy of its tag rewritten from
it, and nothing else in the notebooks touched (their stored outputs stay valid)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("release", ROOT / "tools/release.py")
assert _spec and _spec.loader
release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    for name in ["pyproject.toml", "_config.yml"]:
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "chapters", tmp_path / "chapters")
    return tmp_path


def test_every_copy_points_at_the_pinned_release():
    assert release.disagreements(ROOT) == []


def test_release_rewrites_every_copy_and_only_the_install_line(book):
    old = release.tag(release.read_version(book))
    changed = release.release("9.8.7", book)
    assert release.read_version(book) == "9.8.7"
    assert release.disagreements(book) == []
    notebooks = sorted((book / "chapters").glob("*.ipynb"))
    assert set(changed) == {book / "pyproject.toml", book / "_config.yml", *notebooks}
    config_diff = [
        (a, b)
        for a, b in zip(
            (ROOT / "_config.yml").read_text().splitlines(),
            (book / "_config.yml").read_text().splitlines(),
            strict=True,
        )
        if a != b
    ]
    assert config_diff == [(a, a.replace(old, "v9.8.7")) for a, _ in config_diff]
    assert len(config_diff) == 1 and "branch: v9.8.7" in config_diff[0][1]
    for notebook in notebooks:
        before = (ROOT / "chapters" / notebook.name).read_text(encoding="utf-8")
        after = notebook.read_text(encoding="utf-8")
        lines = [
            (a, b)
            for a, b in zip(before.splitlines(), after.splitlines(), strict=True)
            if a != b
        ]
        assert len(lines) == 1 and f"@{old}" in lines[0][0]
        assert lines[0][1] == lines[0][0].replace(f"@{old}", "@v9.8.7")
        setup = next(c for c in json.loads(after)["cells"] if c["cell_type"] == "code")
        assert "@v9.8.7" in "".join(setup["source"])
    assert release.release("9.8.7", book) == []  # a second run changes nothing


def test_a_copy_left_behind_is_named(book):
    notebook = book / "chapters" / "03_resnet.ipynb"
    text = notebook.read_text(encoding="utf-8")
    notebook.write_text(
        text.replace(f"@{release.tag(release.read_version())}", "@main")
    )
    assert release.disagreements(book) == [
        "chapters/03_resnet.ipynb setup cell installs ['main']"
    ]


@pytest.mark.parametrize("version", ["v1.2.3", "1.2", "main", "1.2.3rc1"])
def test_a_version_that_is_not_x_y_z_is_refused(book, version):
    with pytest.raises(ValueError, match="version"):
        release.release(version, book)
    assert release.disagreements(book) == []
