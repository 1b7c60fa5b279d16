#!/usr/bin/env python3
"""Render a PR comment's Markdown the way GitHub shows it, in a real browser, and measure it.

    python tools/render_comment.py COMMENT.md [--png OUT.png] [--width 780] [--json]

GitHub-flavoured Markdown (npm ``marked``), GitHub's stylesheet (``github-markdown-css``) and
``mermaid`` 11 are loaded from ``tools/render/node_modules`` (``npm ci --prefix tools/render``) into
one HTML page whose column is GitHub's comment column (about 780 px). Headless Chromium (Debian's
``chromium``) runs the page twice: once with ``--dump-dom`` to read what the page measured, once
with ``--screenshot`` for the PNG (full height). The measurements, printed as JSON:

- ``mermaid_errors``: the error mermaid raised for each chart (empty when every chart rendered);
- ``charts``: per chart, the stroke colour of each line and whether it has an error diagram;
- ``tables``: per table, its full (scroll) width, the width it is shown in (a table wider than the
  column hides columns behind a scroll bar) and its natural width (no cell wrapped);
- ``height``: the page's height in px.

Standard library only; exit status 0 when the page rendered, 3 when Chromium or the npm packages
are missing (``missing`` says which), 1 when the page did not report back.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "render" / "node_modules"
#: The files the page loads, relative to ``NODE_MODULES``.
ASSETS = {
    "css": "github-markdown-css/github-markdown-light.css",
    "marked": "marked/lib/marked.umd.js",
    "mermaid": "mermaid/dist/mermaid.min.js",
}
#: GitHub's comment column (its body, inside the timeline) is about this wide.
COLUMN_PX = 780
#: White space around the column in the screenshot.
MARGIN_PX = 16
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
RESULT_ID = "keras-ct-render-result"

PAGE_SCRIPT = """
const source = JSON.parse(document.getElementById("source").textContent);
const body = document.getElementById("body");
body.innerHTML = marked.parse(source, {gfm: true});
const result = {mermaid_errors: [], charts: [], tables: [], height: 0};
mermaid.initialize({startOnLoad: false, theme: "default"});
async function renderCharts() {
  const blocks = [...body.querySelectorAll("pre > code.language-mermaid")];
  for (const [i, code] of blocks.entries()) {
    const holder = document.createElement("div");
    holder.className = "mermaid-chart";
    code.parentElement.replaceWith(holder);
    try {
      const {svg} = await mermaid.render("chart" + i, code.textContent);
      holder.innerHTML = svg;
    } catch (err) {
      result.mermaid_errors.push(String(err && err.message || err));
      holder.textContent = "mermaid error: " + String(err && err.message || err);
    }
    const lines = [...holder.querySelectorAll("g.line-plot-0 path, [class^=line-plot] path")];
    result.charts.push({
      error: holder.querySelector("[aria-roledescription=error]") !== null || !holder.querySelector("svg"),
      line_colours: [...new Set(lines.map(p => getComputedStyle(p).stroke || p.getAttribute("stroke")))],
    });
  }
}
function measure() {
  for (const table of body.querySelectorAll("table")) {
    const shown = table.clientWidth, width = table.scrollWidth;
    table.style.maxWidth = "none";  // github-markdown-css: width max-content, max-width 100%
    result.tables.push({width: width, shown: shown, natural: table.offsetWidth});
    table.style.maxWidth = "";
  }
  result.height = Math.ceil(document.body.getBoundingClientRect().bottom);
  const out = document.createElement("pre");
  out.id = "RESULT_ID";
  out.style.display = "none";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
}
renderCharts().catch(e => result.mermaid_errors.push("page: " + e)).finally(measure);
""".replace("RESULT_ID", RESULT_ID)


def missing_parts() -> list[str]:
    """What this machine lacks to render: the browser and/or the npm packages."""
    gone = [] if browser() else ["chromium (apt-get install -y chromium)"]
    if any(not (NODE_MODULES / rel).is_file() for rel in ASSETS.values()):
        gone.append("npm packages (npm ci --prefix tools/render)")
    return gone


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def page(markdown: str, width: int) -> str:
    """The HTML page: GitHub's CSS, a ``width``-px column, the Markdown as JSON, the scripts."""
    src = {key: (NODE_MODULES / rel).as_uri() for key, rel in ASSETS.items()}
    source = json.dumps(markdown).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="{html.escape(src["css"])}">
<style>body {{ margin: 0; padding: {MARGIN_PX}px; background: #fff; }}
.markdown-body {{ box-sizing: content-box; width: {width}px; }}</style>
<script src="{html.escape(src["marked"])}"></script>
<script src="{html.escape(src["mermaid"])}"></script>
</head><body><article class="markdown-body" id="body"></article>
<script type="application/json" id="source">{source}</script>
<script>{PAGE_SCRIPT}</script>
</body></html>
"""


def chromium(exe: str, url: str, *args: str, timeout_s: float = 120.0) -> str:
    argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--virtual-time-budget=15000", *args, url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    return done.stdout


def measure(html_path: Path, exe: str, width: int) -> dict[str, Any]:
    """Run the page once and read the JSON it appended to the DOM."""
    dom = chromium(exe, html_path.as_uri(), "--dump-dom", f"--window-size={width + 2 * MARGIN_PX},1000")
    start = dom.find(f'id="{RESULT_ID}"')
    if start < 0:
        raise RuntimeError("the page did not report back (did the scripts load?)")
    start = dom.index(">", start) + 1
    return dict(json.loads(html.unescape(dom[start : dom.index("</pre>", start)])))


def render(markdown: str, *, png: Path | None = None, width: int = COLUMN_PX) -> dict[str, Any]:
    """Render ``markdown`` in headless Chromium; return the measurements (and write ``png``)."""
    exe = browser()
    if exe is None:
        raise FileNotFoundError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="keras-ct-render-") as tmp:
        html_path = Path(tmp) / "comment.html"
        html_path.write_text(page(markdown, width), encoding="utf-8")
        result = measure(html_path, exe, width)
        if png is not None:
            png.parent.mkdir(parents=True, exist_ok=True)
            size = f"--window-size={width + 2 * MARGIN_PX},{max(200, int(result['height']))}"
            chromium(exe, html_path.as_uri(), f"--screenshot={png.resolve()}", size)
            result["png"] = str(png) if png.is_file() else ""
    result["column"] = width
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("comment", type=Path, help="the comment's Markdown file")
    parser.add_argument("--png", type=Path, default=None, help="write a screenshot here")
    parser.add_argument("--width", type=int, default=COLUMN_PX, help=f"column width (default {COLUMN_PX})")
    args = parser.parse_args(argv)
    gone = missing_parts()
    if gone:
        print(json.dumps({"missing": gone}))
        return 3
    try:
        result = render(args.comment.read_text(encoding="utf-8"), png=args.png, width=args.width)
    except RuntimeError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LANG", "C.UTF-8")
    sys.exit(main())
