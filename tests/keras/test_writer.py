"""The checkpoint's background writer (``keras_ct.keras.writer``): in order, off the caller's thread,
errors handed back, nothing lost at exit. Standard library only: no Keras here."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from keras_ct.keras.writer import THREAD_NAME, CheckpointWriter

ROOT = Path(__file__).resolve().parents[2]


def test_jobs_run_one_at_a_time_in_order_off_the_calling_thread() -> None:
    writer = CheckpointWriter()
    ran: list[tuple[int, str]] = []
    for i in range(5):
        writer.submit(
            lambda i=i: (time.sleep(0.01 * (5 - i)), ran.append((i, threading.current_thread().name)))
        )

    writer.wait()

    assert ran == [(i, THREAD_NAME) for i in range(5)]  # later, shorter jobs never overtake earlier ones
    assert not writer.pending() and not [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_submit_returns_before_the_job_ends() -> None:
    writer = CheckpointWriter()
    release = threading.Event()
    writer.submit(lambda: (release.wait(30), None)[1])

    assert writer.pending()  # the caller goes on while the job waits
    release.set()
    writer.wait()
    assert not writer.pending()


def test_a_failed_job_is_raised_by_the_next_wait_once_and_later_jobs_are_skipped() -> None:
    writer = CheckpointWriter()
    ran: list[str] = []

    def fails() -> None:
        raise OSError("No space left on device")

    writer.submit(fails)
    writer.submit(lambda: ran.append("after the failure"))
    with pytest.raises(OSError, match="No space left"):
        writer.wait()
    assert ran == []  # no newer file over the error

    writer.wait()  # raised once
    writer.submit(lambda: ran.append("later"))
    writer.wait()
    assert ran == ["later"]


def test_a_write_still_running_when_the_script_ends_is_finished_before_exit(tmp_path: Path) -> None:
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom keras_ct.keras.writer import CheckpointWriter\n"
        "CheckpointWriter().submit(lambda: (time.sleep(0.3), Path(sys.argv[1]).write_text('whole')))\n"
    )
    target = tmp_path / "written"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "action")}
    done = subprocess.run([sys.executable, "-c", code, str(target)], env=env, timeout=60, check=False)

    assert done.returncode == 0 and target.read_text() == "whole"
