"""Serve MathJax from the built site instead of a CDN, so equations render offline.

MathJax 3 comes from the PyPI package django-static-mathjax (the unmodified MathJax
distribution in a wheel; no Django needed). We copy the one component the book uses
(tex-chtml) and its fonts into _static/mathjax/ and point Sphinx's mathjax_path there.
"""

import shutil
from importlib.util import find_spec
from pathlib import Path

COMPONENT = "tex-chtml.js"
FONTS = Path("output") / "chtml" / "fonts" / "woff-v2"


def mathjax_es5() -> Path:
    spec = find_spec("mathjax")
    if spec is None or spec.origin is None:
        raise RuntimeError("offline MathJax needs django-static-mathjax (requirements.txt)")
    return Path(spec.origin).parent / "static" / "mathjax" / "es5"


def configure(app, config) -> None:
    config.mathjax_path = f"mathjax/{COMPONENT}"


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_es5(), Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / COMPONENT, target / COMPONENT)
    shutil.copytree(source / FONTS, target / FONTS, dirs_exist_ok=True)


def setup(app):
    mathjax_es5()  # fail early, at setup, if the package is missing
    app.connect("config-inited", configure)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
