"""The resume checkpoint's background writer: file writes off the training thread, in order.

``Backup`` copies the model's variables to NumPy on the training thread (cheap) and hands the write
to a ``CheckpointWriter``: the checkpoint, then the epoch log, so the log never names an epoch
whose checkpoint is not on disk yet. Each job runs on its own thread once the one
before it has ended: the jobs run one at a time, in the order they were given. The threads are not
daemons: an interpreter that exits (the script ended, or Ctrl-C) still finishes a write it started;
only a kill loses it, and then the previous checkpoint and log, both whole, are what is on disk.

Standard library only (no Keras): tests and the benchmark use it without importing TensorFlow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: The writer threads' name: a test (or a profiler) finds them by it.
THREAD_NAME = "keras-ct-checkpoint"


class CheckpointWriter:
    """Runs the jobs it is given, one after the other, off the calling thread.

    ``wait()`` blocks until every job given so far has ended and raises the first error one raised
    (once): the training thread calls it before each new checkpoint and when ``fit`` begins and ends.
    """

    def __init__(self) -> None:
        self._last: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            before = self._last
            thread = threading.Thread(target=self._run, args=(before, job), name=THREAD_NAME)
            self._last = thread
            thread.start()

    def _run(self, before: threading.Thread | None, job: Callable[[], None]) -> None:
        if before is not None:
            before.join()
        if self._error is not None:
            return  # a write failed: later ones would only bury the error under newer files
        try:
            job()
        except BaseException as exc:  # handed to the training thread by wait()
            self._error = exc

    def pending(self) -> bool:
        """Whether a job given is still running or waiting to run."""
        last = self._last
        return last is not None and last.is_alive()

    def wait(self) -> None:
        """Block until every job given so far has ended; raise the first error a job raised."""
        with self._lock:
            last = self._last
        if last is not None:
            last.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
