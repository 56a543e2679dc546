"""The built site as a reader meets it: every page opened in headless Chromium.

`make test` builds the site (from the stored, nbval-checked outputs) before running the
tests. Each page must load with no console error, no failed request and no request
leaving the machine (MathJax and every asset are served by the site itself); every
equation must be typeset by MathJax, every image must have a size, every internal link
and anchor must resolve, and every Colab button must open the chapter's notebook at the
release tag (pyproject.toml's version) its setup cell installs nblib from.

Each page is loaded once and then read three ways, as three tests: on a desktop, on a
phone (390 px wide: nothing widens the page, body text of at least 12 px, every block
diagram drawn whole, with as many boxes as its notebook traced and text of at least
8 px) and in the dark theme (diagrams' text and lines contrast with what lies behind
them, figures' ink with their background). The zoo plot of chapter 21 must name every
point, with no script: a tooltip and a link to its row of the key table.
"""

import functools
import html
import http.server
import io
import json
import re
import shutil
import threading
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
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


@pytest.fixture(scope="module", params=PAGES)
def loaded(request, browser, base_url):
    """One load per page, shared by the desktop, phone and dark-theme tests (pytest
    runs the three in turn for each page)."""
    page, problems = open_page(browser, base_url, request.param)
    yield request.param, page, problems
    page.close()


def test_page(loaded, base_url):
    path, page, problems = loaded
    assert (SITE / path).exists(), f"{path} was not built"
    page.set_viewport_size({"width": 1280, "height": 900})
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
    links = page.evaluate(  # (an SVG link's href is not a string: resolve it)
        "Array.from(document.querySelectorAll('a[href]'),"
        " a => new URL(a.getAttribute('href'), document.baseURI).href)"
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
    # Colab buttons open this chapter's notebook at the release tag it installs nblib
    # from (pyproject.toml's version, tools/release.py).
    colab = page.evaluate(
        "Array.from(document.querySelectorAll('a[href*=\"colab.research.google.com\"]'))"
        ".map(a => a.href)"
    )
    if path.startswith("chapters/"):
        repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
        notebook = path.replace(".html", ".ipynb")
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        release = "v" + pyproject["project"]["version"]
        expected = (
            f"https://colab.research.google.com/github/{repo}/blob/{release}/{notebook}"
        )
        assert colab and set(colab) == {expected}
    assert problems == {
        "console errors": [],
        "failed requests": [],
        "external requests": [],
    }


def test_screenshot_of_a_chapter(browser, base_url):
    """A full-page screenshot of the first chapter, for a person to look at."""
    page, problems = open_page(browser, base_url, "chapters/01_measuring_cost.html")
    page.evaluate("MathJax.startup.promise")
    out = ROOT / "_build" / "screenshots" / "01_measuring_cost.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    page.close()
    assert out.stat().st_size > 100_000 and not any(problems.values())


# --- On a phone ---------------------------------------------------------------------
PHONE = {"width": 390, "height": 844}
MIN_BODY_PX, MIN_DIAGRAM_PX = 12, 8

# What a phone reader would see go wrong: the page wider than the screen (and what
# sticks out of it, outside any scrolling container), body text below 12 px, and for
# each block diagram its size, its smallest text as drawn, its boxes, the boxes that
# lie outside its own drawing area, and whether its container scrolls or clips it.
PHONE_JS = """minPx => {
  const scrolls = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    return false;
  };
  const vw = document.documentElement.clientWidth;
  const sticking = Array.from(document.querySelectorAll('.bd-article *'))
    .filter(el => el.getBoundingClientRect().right > vw + 1 && !scrolls(el))
    .map(el => el.tagName.toLowerCase() + ': ' + el.textContent.trim().slice(0, 60));
  const small = Array.from(document.querySelectorAll('.bd-article p, .bd-article li'))
    .filter(p => p.textContent.trim()
      && parseFloat(getComputedStyle(p).fontSize) < minPx)
    .map(p => p.textContent.trim().slice(0, 60));
  const diagrams = Array.from(document.querySelectorAll('svg.bx-diagram')).map(svg => {
    const box = svg.getBoundingClientRect(), view = svg.viewBox.baseVal;
    const scale = box.width / view.width;
    const wrap = svg.closest('.bx-diagram-wrap');
    const outside = Array.from(svg.querySelectorAll('.box')).filter(b => {
      const r = b.getBBox();
      return r.x < view.x || r.y < view.y || r.x + r.width > view.x + view.width
        || r.y + r.height > view.y + view.height;
    }).length;
    return {
      label: svg.getAttribute('aria-label'), width: box.width, height: box.height,
      text_px: Math.min(...Array.from(svg.querySelectorAll('text'),
        t => parseFloat(getComputedStyle(t).fontSize) * scale)),
      boxes: svg.querySelectorAll('.box:not(.input)').length, outside,
      overflow: wrap ? getComputedStyle(wrap).overflowX : 'no container',
      clipped: wrap ? box.width > wrap.scrollWidth + 1 : true,
    };
  });
  return {width: document.scrollingElement.scrollWidth, viewport: vw, sticking, small,
          diagrams};
}"""


def stored_diagrams(path: str) -> list[tuple[str, int]]:
    """(title, boxes other than inputs) of each diagram the page's notebook stored, read
    from the text it stores beside the SVG: "Diagram of <title>: 3 conv, 1 merge", or
    for a network's overview "Overview of <title>: 7 stages" (a box per stage)."""
    notebook = ROOT / path.replace(".html", ".ipynb")
    if not notebook.exists():
        return []
    found = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            svg = "".join(data.get("text/html", ""))
            if 'class="bx-diagram"' not in svg:
                continue
            title = html.unescape(re.search(r'aria-label="([^"]*)"', svg)[1])
            text = "".join(data["text/plain"])
            if text.startswith(f"Overview of {title}: "):
                found.append(
                    (title, int(re.match(r"Overview of .*?: (\d+) stages", text)[1]))
                )
                continue
            text = text.removeprefix(f"Diagram of {title}: ")
            found.append(
                (title, sum(map(int, re.findall(r"(\d+) \w+", text.split(" (")[0]))))
            )
    return found


def test_phone(loaded):
    """At 390 px the page does not scroll sideways (wide tables, code and diagrams
    scroll in their own containers), body text is at least 12 px, and every diagram is
    drawn whole: a size, text of at least 8 px, the boxes its notebook traced, none
    outside its drawing, its container scrolling rather than clipping it."""
    path, page, problems = loaded
    page.set_viewport_size(PHONE)
    set_theme(page, "light")
    seen = page.evaluate(PHONE_JS, MIN_BODY_PX)
    assert seen["width"] <= seen["viewport"] + 1, (
        f"the page is {seen['width']} px wide on a {seen['viewport']} px phone; "
        f"sticking out: {seen['sticking'][:5]}"
    )
    assert seen["small"] == [], f"body text below {MIN_BODY_PX} px"
    drawn = seen["diagrams"]
    assert [(d["label"], d["boxes"]) for d in drawn] == stored_diagrams(path), (
        "the page's diagrams (title, boxes) differ from those its notebook stored"
    )
    for d in drawn:
        assert d["width"] > 0 and d["height"] > 0, f"{d['label']}: not rendered"
        assert d["text_px"] >= MIN_DIAGRAM_PX, (
            f"{d['label']}: text {d['text_px']:.1f} px tall on a phone"
        )
        assert d["outside"] == 0, f"{d['label']}: {d['outside']} boxes outside the SVG"
        assert d["overflow"] in ("auto", "scroll") and not d["clipped"], (
            f"{d['label']}: its container ({d['overflow']}) clips it"
        )
    assert diagram_contrast_problems(page) == [], "diagrams in the light theme"
    assert not any(problems.values()), problems


# --- In the dark theme --------------------------------------------------------------
TEXT_CONTRAST, LINE_CONTRAST = 4.5, 3.0  # WCAG 2: text, and graphical objects


def set_theme(page, theme: str) -> None:
    """Switch the colour theme the way a reader does: the theme button in the header
    cycles light, dark and the system's setting."""
    button = page.locator(".theme-switch-button:visible").first
    for _ in range(3):
        if page.evaluate("document.documentElement.dataset.theme") == theme:
            return
        button.click(timeout=5000)
    assert page.evaluate("document.documentElement.dataset.theme") == theme


# For every diagram: each text with the paint right behind it (the box it sits in, or
# what shows through the diagram), each box outline and edge with what lies outside
# the boxes. Colours are the computed ones; `behind` lists the backgrounds from the
# element up to the root, to be composited.
COLOURS_JS = """() => Array.from(document.querySelectorAll('svg.bx-diagram'), svg => {
  const css = (el, p) => getComputedStyle(el).getPropertyValue(p);
  const behind = [];
  for (let a = svg; a; a = a.parentElement) behind.unshift(css(a, 'background-color'));
  const shapes = Array.from(svg.querySelectorAll('.box'));
  const under = t => {
    const b = t.getBBox(), x = b.x + b.width / 2, y = b.y + b.height / 2;
    const hit = shapes.filter(s => {
      const r = s.getBBox();
      return x >= r.x && x <= r.x + r.width && y >= r.y && y <= r.y + r.height;
    }).pop();
    return hit && css(hit, 'fill') !== 'none' ? css(hit, 'fill') : null;
  };
  return {
    label: svg.getAttribute('aria-label'), behind,
    texts: Array.from(svg.querySelectorAll('text'),
      t => [t.textContent, css(t, 'fill'), under(t)]),
    lines: Array.from(svg.querySelectorAll('.box, .edge'),
      l => [l.getAttribute('class'), css(l, 'stroke')]),
  };
})"""


def rgba(colour: str) -> tuple[float, float, float, float]:
    """A computed CSS colour, 'rgb(r, g, b)' or 'rgba(r, g, b, a)', as numbers."""
    values = [float(v) for v in re.findall(r"[\d.]+", colour)]
    assert colour.startswith("rgb") and len(values) in (3, 4), colour
    return (*values[:3], values[3] if len(values) == 4 else 1.0)


def composite(layers: list[str]) -> np.ndarray:
    """The colour seen through `layers` (back to front) over a white canvas."""
    seen = np.array([255.0, 255.0, 255.0])
    for layer in layers:
        *rgb, alpha = rgba(layer)
        seen = alpha * np.array(rgb) + (1 - alpha) * seen
    return seen


def luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2 relative luminance of sRGB colours (last axis: r, g, b in 0..255)."""
    c = np.asarray(rgb, float) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def contrast(a, b) -> np.ndarray:
    """WCAG 2 contrast ratio, 1 to 21."""
    la, lb = luminance(a), luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def diagram_contrast_problems(page) -> list[str]:
    problems = []
    for d in page.evaluate(COLOURS_JS):
        ground = composite(d["behind"])
        for text, fill, box in d["texts"]:
            paint = composite([*d["behind"], box]) if box else ground
            ratio = float(contrast(composite([*d["behind"], fill]), paint))
            if ratio < TEXT_CONTRAST:
                problems.append(f"{d['label']}: text {text!r} at {ratio:.1f}:1")
        for kind, stroke in d["lines"]:
            ratio = float(contrast(composite([*d["behind"], stroke]), ground))
            if ratio < LINE_CONTRAST:
                problems.append(f"{d['label']}: {kind} line at {ratio:.1f}:1")
    return sorted(set(problems))


INK_LUMINANCE = 0.05  # the book's figures draw text, axes and ticks near-black

# Each figure image: its file, and the border and padding around its content box.
IMAGE_JS = """img => { const s = getComputedStyle(img), px = p => parseFloat(s[p]);
  return {src: img.getAttribute('src'),
    left: px('borderLeftWidth') + px('paddingLeft'),
    top: px('borderTopWidth') + px('paddingTop'),
    right: px('borderRightWidth') + px('paddingRight'),
    bottom: px('borderBottomWidth') + px('paddingBottom')}; }"""


def image_ink_contrast(shown: bytes, source: Path, box: dict) -> float:
    """How the ink of a figure image (its opaque near-black pixels in the file: text,
    axes, ticks) stands out on screen from the figure's background (the commonest
    colour of what is shown, with the theme's filters, backgrounds and page)."""
    from PIL import Image

    screen = Image.open(io.BytesIO(shown)).convert("RGB")
    width, height = screen.size
    inner = (box["left"], box["top"], width - box["right"], height - box["bottom"])
    screen = screen.crop(tuple(round(v) for v in inner))
    drawn = np.asarray(Image.open(source).convert("RGBA"), float)
    ink = (drawn[..., 3] > 230) & (luminance(drawn[..., :3]) < INK_LUMINANCE)
    assert ink.mean() > 0.001, f"{source.name}: no near-black ink to check"
    mask = Image.fromarray(ink).resize(screen.size, Image.Resampling.NEAREST)
    pixels = np.asarray(screen, float)
    # The ink's core, not its edges that resampling blends with the background.
    ratios = contrast(pixels[np.asarray(mask)], commonest(pixels))
    return float(np.quantile(ratios, 0.75))


def commonest(pixels: np.ndarray) -> np.ndarray:
    """The commonest colour of an image (r, g, b), within 8 levels: its background."""
    levels = pixels.reshape(-1, 3).astype(int) // 8
    code = np.bincount(levels @ np.array([1024, 32, 1]), minlength=32768).argmax()
    return np.array([code // 1024, code // 32 % 32, code % 32]) * 8 + 4.0


# Each text of an inline SVG figure: its colour and its box within the figure, in px.
TEXTS_JS = """svg => { const o = svg.getBoundingClientRect();
  return Array.from(svg.querySelectorAll('text'), t => {
    const r = t.getBoundingClientRect();
    const m = r.height / 2;  // a margin: a label may touch a point or a line
    const box = [r.left - o.left - m, r.top - o.top - m, r.right - o.left + m,
      r.bottom - o.top + m];
    return [getComputedStyle(t).fill, ...box.map(Math.round)];
  }).filter(([, x0, y0, x1, y1]) => x1 > x0 && y1 > y0);
}"""


HIDE_TEXTS_JS = (
    "(svg, v) => svg.querySelectorAll('text').forEach(t => t.style.visibility = v)"
)


def test_dark_theme(loaded):
    """In the dark theme every diagram's text (4.5:1) and lines (3:1) stand out from
    what is behind them, and so does every figure's ink from the figure's background
    (4.5:1; e.g. no dark ink on a transparent figure over the dark page)."""
    from PIL import Image

    path, page, problems = loaded
    page.set_viewport_size({"width": 1280, "height": 900})  # figures at full size
    # The theme's colour transitions would let a busy machine screenshot a page halfway
    # between the themes: the final colours are what a reader looks at.
    page.add_style_tag(content="*, *::before, *::after {transition: none !important}")
    set_theme(page, "dark")
    assert diagram_contrast_problems(page) == [], "diagrams in the dark theme"
    faint = {}
    images = page.locator(".cell_output img")
    for k in range(images.count()):
        images.nth(k).scroll_into_view_if_needed()
        images.nth(k).evaluate("img => img.decode()")  # painted before the screenshot
        box = images.nth(k).evaluate(IMAGE_JS)
        source = (SITE / path).parent / box["src"]
        ratio = image_ink_contrast(images.nth(k).screenshot(), source, box)
        if ratio < TEXT_CONTRAST:
            faint[source.name] = round(ratio, 2)
    # Inline SVG figures (linked_points): each text's colour against what is shown
    # behind it (the commonest colour of its box and a margin, on screen, texts hidden).
    figures = page.locator("svg.bx-figure")
    for k in range(figures.count()):
        texts = figures.nth(k).evaluate(TEXTS_JS)
        figures.nth(k).evaluate(HIDE_TEXTS_JS, "hidden")
        shown = Image.open(io.BytesIO(figures.nth(k).screenshot())).convert("RGB")
        figures.nth(k).evaluate(HIDE_TEXTS_JS, "")
        for fill, *box in texts:
            around = commonest(np.asarray(shown.crop(tuple(box)), float))
            ratio = float(contrast(composite([fill]), around))
            if ratio < TEXT_CONTRAST:
                faint[f"inline figure {k}, text at {box[:2]}"] = round(ratio, 2)
    assert faint == {}, "figures whose ink fades into the dark page"
    assert not any(problems.values()), problems


# --- The zoo plot: every point can be named ------------------------------------------
# Each point of a linked figure (nblib.plots.linked_points): its tooltip, its link, the
# row that link reaches, and whether the point is what the pointer finds at its centre.
POINTS_JS = """anchor => Array.from(
  document.querySelectorAll(`svg.bx-figure a[href^="#${anchor}-"]`), a => {
    a.scrollIntoView({block: 'center', inline: 'center'});
    const r = a.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
    const row = document.getElementById(a.getAttribute('href').slice(1));
    const hit = document.elementFromPoint(x, y);
    return {
      title: a.querySelector(':scope > title')?.textContent ?? '',
      href: a.getAttribute('href'), size: r.width * r.height,
      row: row && row.tagName === 'TR' ? row.querySelector('td').textContent : null,
      found: hit && hit.closest('a') === a ? 'yes'
        : hit && hit.closest('a') ? 'under another point' : 'covered',
    };
  })"""


def check_linked_points(page, anchor: str) -> None:
    """A reader can name every point of the figure without a script: each has a
    tooltip naming what its row of the key table names, links to that row, and a
    click on it brings the row into view; every row of the table has its point."""
    assert page.locator("svg.bx-figure script").count() == 0
    points = page.evaluate(POINTS_JS, anchor)
    rows = page.evaluate(
        f"Array.from(document.querySelectorAll('tr[id^=\"{anchor}-\"]'), r => r.id)"
    )
    assert points, "no point of the figure is linked"
    assert sorted(p["href"][1:] for p in points) == sorted(rows), "points != rows"
    for p in points:
        assert p["size"] > 0 and p["row"], p
        assert p["row"] in p["title"], f"tooltip {p['title']!r} is not row {p['row']!r}"
    # A point may lie under another point (the two models cost nearly the same; the
    # table tells them apart), never under a label, a line or nothing at all.
    covered = [p["title"] for p in points if p["found"] == "covered"]
    assert covered == [], "points the pointer cannot reach"
    first = page.locator(f'svg.bx-figure a[href="{points[0]["href"]}"]')
    first.click()
    assert page.evaluate("location.hash") == points[0]["href"]
    top = page.evaluate(
        f"document.getElementById('{points[0]['href'][1:]}').getBoundingClientRect().top"
    )
    assert 0 <= top < page.viewport_size["height"], "the row is not brought into view"


def test_zoo_plot_names_every_point(browser, base_url):
    """Chapter 21's zoo plot, on a phone: every model's point is named (needs the
    chapter executed with `plots.linked_points`, `make execute NB=...`)."""
    page, problems = open_page(browser, base_url, "chapters/21_flops_vs_latency.html")
    try:
        page.set_viewport_size(PHONE)
        check_linked_points(page, "zoo")
        assert not any(problems.values()), problems
    finally:
        page.close()


def test_linked_points_in_chromium(browser):
    """`linked_points` and `key_table` on a small figure, as Chromium shows them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from nblib import plots

    table = pd.DataFrame(
        {"model": ["tiny", "small", "large"], "GMACs": [0.1, 1.0, 10.0]},
        index=pd.RangeIndex(1, 4, name="#"),
    )
    fig, ax = plt.subplots()
    ax.scatter(table.GMACs[:2], [1, 3])
    ax.scatter(table.GMACs[2:], [2])
    figure = plots.linked_points(
        fig, table.GMACs, [1, 3, 2], [f"#{i} {m}" for i, m in table.model.items()],
        [f"#demo-{i}" for i in table.index], "demo", "three models",
    )  # fmt: skip
    key = plots.key_table(table, "demo")
    page = browser.new_page(viewport=PHONE)
    try:
        page.route("**/*", lambda route: route.abort())  # nothing may be fetched
        page.set_content(f"<body>{figure.html}<div style='height:2000px'></div>"
                         f"{key.html}</body>")  # fmt: skip
        check_linked_points(page, "demo")
    finally:
        page.close()
