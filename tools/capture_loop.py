#!/usr/bin/env python3
"""Run ``keras-ct loop`` for real and keep what its report was rendered from, as a golden input.

    python tools/capture_loop.py OUT.json -- loop --working-directory DIR --train-command ... --commit

The JSON holds the loop's round records (the history format the PR comment hides), its verdict and
its latest diff, so tests/test_report.py renders the PR comment from a real loop's output
(tests/golden/loop-*.json -> tests/golden/comment-loop-*.md).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_ct import orchestrate
from keras_ct.cli import main as cli_main
from keras_ct.report import Verdict
from keras_ct.round import history as hist
from keras_ct.round.history import RoundRecord


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__)
        return 2
    out = Path(argv[0])
    captured: dict[str, Any] = {}
    render: Callable[..., str] = getattr(orchestrate, "render_report")  # noqa: B009 -- the name orchestrate imported

    def keep(records: Sequence[RoundRecord], verdict: Verdict, **kwargs: Any) -> str:
        captured.update(records=records, verdict=verdict, diff=kwargs.get("diff", ""))
        return render(records, verdict, **kwargs)

    setattr(orchestrate, "render_report", keep)  # noqa: B010
    status = cli_main(list(argv[2:]))
    if not captured:
        print("capture_loop: the loop rendered no report", file=sys.stderr)
        return 1
    data = {
        "history": json.loads(hist.dumps(captured["records"])),
        "verdict": dataclasses.asdict(captured["verdict"]),
        "diff": captured["diff"],
    }
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"capture_loop: {out} (loop exit status {status})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
