"""The PR comment as GitHub shows it: rendered in headless Chromium (GFM, GitHub's CSS, mermaid 11).

``tools/render_comment.py`` does the rendering. These tests need Debian's ``chromium`` and the npm
packages in ``tools/render`` (``npm ci --prefix tools/render``); ``python3 dev.py setup`` installs both
(chromium with apt-get when it runs as root), and ``.ci/run`` sets ``KERAS_CT_REQUIRE_RENDER=1`` so
that in CI a missing part fails these tests instead of skipping them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from keras_ct.chart import CHART_COLOURS
from keras_ct.report import render_comment
from tests.modules import load_file
from tests.test_report import GOLDEN, LINKS, LOOPS, load_loop

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # a browser start per comment: about 40 s in all


tool = load_file("tools/render_comment.py", "render_comment")


@pytest.fixture(scope="module", autouse=True)
def _renderer() -> None:
    missing = tool.missing_parts()
    if missing and os.environ.get("KERAS_CT_REQUIRE_RENDER"):
        pytest.fail(f"KERAS_CT_REQUIRE_RENDER is set but this machine lacks: {', '.join(missing)}")
    if missing:
        pytest.skip(f"rendering needs {', '.join(missing)}; python3 dev.py setup installs them")


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _on_github(name: str) -> str:
    """A real loop's comment as a run on GitHub posts it: every round with its run link, and the last
    round's threshold raised (said below the table)."""
    records, verdict, diff = load_loop(name)
    runs = [
        dataclasses.replace(r, run_url=f"https://github.com/acme/ml-repo/actions/runs/1700{r.round:04d}")
        for r in records
    ]
    runs[-1] = dataclasses.replace(runs[-1], threshold=runs[-1].threshold + 0.001)
    return render_comment(runs, verdict, links=LINKS, diff=diff)


COMMENTS = {
    **{
        f"comment-loop-{name}.md": lambda name=name: (GOLDEN / f"comment-loop-{name}.md").read_text()
        for name in LOOPS
    },
    "comment-kept-best.md": lambda: (GOLDEN / "comment-kept-best.md").read_text(),
    "comment-restarted.md": lambda: (GOLDEN / "comment-restarted.md").read_text(),
    **{f"loop-{name}-on-github": lambda name=name: _on_github(name) for name in LOOPS},
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    results = {}
    for name, make in COMMENTS.items():
        markdown = make()
        results[name] = {**tool.render(markdown), "mermaid_blocks": markdown.count("```mermaid")}
    return results


@pytest.mark.parametrize("name", sorted(COMMENTS))
def test_chart_renders_without_a_mermaid_error(rendered: dict[str, dict[str, Any]], name: str) -> None:
    result = rendered[name]
    assert result["mermaid_errors"] == []
    assert len(result["charts"]) == result["mermaid_blocks"]  # (one round: no chart)
    assert not any(chart["error"] for chart in result["charts"])
    for chart in result["charts"]:  # the lines in our colours, not mermaid's pale #ECECFF
        assert chart["line_colours"][:2] == [_rgb(CHART_COLOURS[0]), _rgb(CHART_COLOURS[1])]


def test_the_real_loops_comments_have_charts(rendered: dict[str, dict[str, Any]]) -> None:
    assert all(rendered[f"comment-loop-{name}.md"]["charts"] for name in LOOPS)


@pytest.mark.parametrize("name", sorted(COMMENTS))
def test_every_table_fits_githubs_column(rendered: dict[str, dict[str, Any]], name: str) -> None:
    result = rendered[name]
    assert result["tables"], "the comment has no table"
    for table in result["tables"]:
        assert table["width"] <= tool.COLUMN_PX, (
            f"a {table['width']} px table in a {tool.COLUMN_PX} px column"
        )
        assert table["width"] <= table["shown"]  # nothing hidden behind a scroll bar
        assert table["natural"] <= tool.COLUMN_PX  # and no cell had to wrap to fit


def test_a_mermaid_error_is_reported() -> None:
    """The check above is not vacuous: a chart mermaid cannot parse is reported as such."""
    result = tool.render("| a |\n|---|\n| 1 |\n\n```mermaid\nxychart-beta\n  line [oops\n```\n")
    assert result["mermaid_errors"] and result["charts"][0]["error"]


def test_a_wide_table_is_measured_wider_than_the_column() -> None:
    cells = " | ".join("a-long-unbreakable-cell-value" for _ in range(8))
    result = tool.render(f"| {cells} |\n|{'---|' * 8}\n| {cells} |\n")
    assert result["tables"][0]["width"] > tool.COLUMN_PX


def test_png_is_written(tmp_path: Path) -> None:
    png = tmp_path / "comment.png"
    result = tool.render((GOLDEN / "comment-loop-passed.md").read_text(), png=png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result["height"] > 300
