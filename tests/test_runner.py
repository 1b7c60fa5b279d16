"""The runner protocol: annotations, groups, masking, outputs and the summary."""

from __future__ import annotations

import io
from pathlib import Path

from keras_ct.runner import Runner


def make(tmp_path: Path, actions: bool = True) -> tuple[Runner, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(
        actions=actions,
        out=out,
        err=err,
        output_path=tmp_path / "out.txt",
        summary_path=tmp_path / "summary.md",
    )
    (tmp_path / "out.txt").touch()
    return runner, out, err


def test_error_annotation_with_file_and_line_escapes_newlines(tmp_path: Path) -> None:
    runner, out, _ = make(tmp_path)
    runner.error("first line\nsecond: 50%", file="ml_task/model.py", line=3)
    assert out.getvalue() == "::error file=ml_task/model.py,line=3::first line%0Asecond: 50%25\n"


def test_terminal_error_goes_to_stderr(tmp_path: Path) -> None:
    runner, out, err = make(tmp_path, actions=False)
    runner.error("bad", file="x.py", line=2)
    assert out.getvalue() == ""
    assert err.getvalue() == "keras-ct: error: x.py:2: bad\n"


def test_group_wraps_output(tmp_path: Path) -> None:
    runner, out, _ = make(tmp_path)
    with runner.group("Training"):
        runner.info("epoch 1")
    assert out.getvalue() == "::group::Training\nepoch 1\n::endgroup::\n"


def test_mask_registers_and_redacts(tmp_path: Path) -> None:
    runner, out, _ = make(tmp_path)
    runner.mask("s3cr3t-token-value")
    runner.info("token is s3cr3t-token-value")
    runner.add_summary("leak s3cr3t-token-value")
    assert out.getvalue().splitlines() == ["::add-mask::s3cr3t-token-value", "token is ***"]
    assert "s3cr3t" not in (tmp_path / "summary.md").read_text()


def test_outputs_use_heredoc_protocol(tmp_path: Path) -> None:
    runner, _, _ = make(tmp_path)
    runner.set_outputs({"accuracy": "0.93", "passed": "false"})
    text = (tmp_path / "out.txt").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("accuracy<<ghadelimiter_") and lines[1] == "0.93"
    assert lines[3].startswith("passed<<ghadelimiter_") and lines[4] == "false"


def test_summary_appends(tmp_path: Path) -> None:
    runner, _, _ = make(tmp_path)
    runner.add_summary("# one")
    runner.add_summary("two\n")
    assert (tmp_path / "summary.md").read_text() == "# one\ntwo\n"
