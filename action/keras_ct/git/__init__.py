"""The git edge: clean-tree check, the augmented commit with trailers, round trailers, a safe push.

A thin layer over the ``git`` command (subprocess, no shell). An interrupt while git runs stops it
with SIGTERM (git then removes its lock files) rather than SIGKILL, and a commit that did not happen
leaves nothing staged. It never force-pushes: before pushing
it compares the remote branch with the SHA this run checked out (``git ls-remote``), and a push the
remote rejects as non-fast-forward means the same thing; both raise ``BranchMovedError`` so the
caller skips the push/dispatch and says why. Credentials never reach a message: URLs with a user
or password and any secret given to ``open_repo`` are replaced by ``***`` in everything we show.

The token reaches git only on the commands that talk to the remote (``ls-remote``, ``push``), in
that one process's environment (``auth``). Those commands run no hooks and no credential helpers:
the trained code could have written them into ``.git``.

Modules: ``repo`` runs the commands (``GitRepo``, ``open_repo``), ``auth`` keeps the token out of
files and messages, ``trailers`` writes and reads keras-ct's commit trailers, ``failures`` turns a
failed command into an error that says what to do.
"""

from __future__ import annotations

from keras_ct.git.auth import auth_env, basic_credential, redact
from keras_ct.git.failures import (
    BranchMovedError,
    CommitFailedError,
    DetachedHeadError,
    DirtyTreeError,
    PushRejectedError,
)
from keras_ct.git.repo import (
    LOCAL_TIMEOUT_S,
    NETWORK_TIMEOUT_S,
    STOP_GRACE_S,
    GitRepo,
    PushResult,
    open_repo,
)
from keras_ct.git.trailers import (
    ACCURACY_TRAILER,
    NAME_TRAILER,
    REVERT_TRAILER,
    ROUND_TRAILER,
    TrailerCommit,
    build_message,
)

__all__ = [
    "ACCURACY_TRAILER",
    "LOCAL_TIMEOUT_S",
    "NAME_TRAILER",
    "NETWORK_TIMEOUT_S",
    "REVERT_TRAILER",
    "ROUND_TRAILER",
    "STOP_GRACE_S",
    "BranchMovedError",
    "CommitFailedError",
    "DetachedHeadError",
    "DirtyTreeError",
    "GitRepo",
    "PushRejectedError",
    "PushResult",
    "TrailerCommit",
    "auth_env",
    "basic_credential",
    "build_message",
    "open_repo",
    "redact",
]
