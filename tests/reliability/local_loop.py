"""`keras-ct loop --commit` in a real git repository with the stand-in trainer, and no TensorFlow.

The stand-in trainer (``tests.integration.repo_setup``) scores the model by its Conv2D count: 1 conv
-> 0.80, 2 -> 0.90; with threshold 0.85 round 1 misses, its change is committed, round 2 meets it.
The augmenter is the real one; its build check is answered by ``builds_without_tensorflow``.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_ct.augment.validate import BuildRequest, BuildResult
from keras_ct.cli import main
from tests.integration.repo_setup import Checkout, git, local_env, make_checkout
from tests.reliability.harness import Result


def builds_without_tensorflow(requests: Sequence[BuildRequest], **_: Any) -> list[BuildResult]:
    """The build check's answer for models that build (the stand-in's models do)."""
    return [BuildResult(label=r.label, ok=True, params=1000) for r in requests]


def loop_repo(tmp_path: Path) -> Checkout:
    checkout = make_checkout(tmp_path)
    git(checkout.work, "config", "commit.gpgsign", "false")
    return checkout


def loop_argv(work: Path, *extra: str) -> list[str]:
    return [
        "loop", "--commit", "--working-directory", str(work), "--threshold", "0.85", "--max-rounds", "3",
        "--train-command", f"{sys.executable} train_fake.py", "--reuse-training-process", "false", *extra,
    ]  # fmt: skip


def loop_env(tmp_path: Path) -> dict[str, str]:
    """No user or system git config (HOME is the test's), no GitHub variables."""
    return local_env(tmp_path, GIT_CONFIG_NOSYSTEM="1")


def run_loop(tmp_path: Path, work: Path, *extra: str, argv: Sequence[str] | None = None) -> Result:
    """`keras-ct loop --commit ...` in-process, as the console script runs it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv) if argv is not None else loop_argv(work, *extra), loop_env(tmp_path))
    return Result(code, out.getvalue(), err.getvalue())
