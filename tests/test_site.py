"""The built site as a reader meets it: every page opened in headless Chromium.

`make test` builds the site (from the stored, nbval-checked outputs) before running the
tests. Each page must load with no console error, no failed request and no request
leaving the machine (MathJax and every asset are served by the site itself); every
equation must be typeset by MathJax, every image must have a size, every internal link
and anchor must resolve, and every Colab button must open the chapter's notebook at the
release tag (pyproject.toml's version) its setup cell installs nblib from.
"""

import functools
import http.server
import re
import shutil
import threading
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = (ROOT / "_toc.yml").read_text()
DOCS = ["intro"] + re.findall(r"file: (\S+)", TOC)
PAGES = [f"{'index' if d == 'intro' else d}.html" for d in DOCS] + ["search.html"]
CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser"])), None)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]  # fmt: skip


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def base_url():
    if not (SITE / "index.html").exists():
        pytest.fail("no site in _build/html: `make test` builds it before the tests")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


def open_page(browser, base_url: str, path: str):
    """Load a page, recording console errors, failed and external requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = {"console errors": [], "failed requests": [], "external requests": []}
    page.on(
        "console",
        lambda m: m.type == "error" and problems["console errors"].append(m.text),
    )
    page.on("requestfailed", lambda r: problems["failed requests"].append(r.url))
    page.on(
        "response",
        lambda r: r.status >= 400 and problems["failed requests"].append(r.url),
    )

    def keep_local(route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            problems["external requests"].append(route.request.url)
            route.abort()

    page.route("**/*", keep_local)
    page.goto(base_url + path, wait_until="networkidle")
    return page, problems


def ids_in(html_file: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html_file.read_text()))


@pytest.mark.parametrize("path", PAGES)
def test_page(browser, base_url, path):
    assert (SITE / path).exists(), f"{path} was not built"
    page, problems = open_page(browser, base_url, path)
    try:
        # Equations: every math element typeset by MathJax (served from _static).
        math = page.locator(".math").count()
        if math:
            page.evaluate("MathJax.startup.promise")
            assert page.locator(".math mjx-container").count() == math, "untypeset math"
        # Images: loaded, with a size.
        sizes = page.evaluate(
            "Array.from(document.images)"
            ".map(i => [i.src, i.naturalWidth * i.naturalHeight])"
        )
        assert [src for src, area in sizes if not area] == []
        # Internal links and anchors resolve.
        links = page.evaluate(
            "Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
        )
        broken = []
        for link in {u for u in links if u.startswith(base_url)}:
            parts = urlsplit(link)
            target = SITE / unquote(parts.path).lstrip("/")
            target = target / "index.html" if target.is_dir() else target
            if not target.exists() or (
                parts.fragment and parts.fragment not in ids_in(target)
            ):
                broken.append(link.removeprefix(base_url))
        assert broken == []
        # Colab buttons open this chapter's notebook at the release tag it installs
        # nblib from (pyproject.toml's version, tools/release.py).
        colab = page.evaluate(
            "Array.from(document.querySelectorAll('a[href*=\"colab.research.google.com\"]'))"
            ".map(a => a.href)"
        )
        if path.startswith("chapters/"):
            repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
            notebook = path.replace(".html", ".ipynb")
            pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
            release = "v" + pyproject["project"]["version"]
            expected = f"https://colab.research.google.com/github/{repo}/blob/{release}/{notebook}"
            assert colab and set(colab) == {expected}
        assert problems == {
            "console errors": [],
            "failed requests": [],
            "external requests": [],
        }
    finally:
        page.close()


def test_screenshot_of_a_chapter(browser, base_url):
    """A full-page screenshot of the first chapter, for a person to look at."""
    page, problems = open_page(browser, base_url, "chapters/01_measuring_cost.html")
    page.evaluate("MathJax.startup.promise")
    out = ROOT / "_build" / "screenshots" / "01_measuring_cost.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    page.close()
    assert out.stat().st_size > 100_000 and not any(problems.values())
