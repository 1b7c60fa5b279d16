"""The trained commits' metrics as git notes under ``refs/notes/keras-ct``, shared through origin.

Every trained round records its metric on the commit it trained (one JSON note per commit); the
notes ref is pushed to origin, so any later run reads it with the default ``GITHUB_TOKEN``
(``contents: write`` to push, read to fetch) and any clone with ``git fetch origin
refs/notes/keras-ct:refs/notes/keras-ct``. Why notes and not a status or an artifact:
docs/baseline.md. A push that loses a race with another run's push fetches theirs, merges (the
newer note wins on one commit, both stay on different commits) and pushes again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from keras_ct.errors import GitError
from keras_ct.git.repo import NETWORK_TIMEOUT_S, GitRepo

NOTES_REF = "refs/notes/keras-ct"
#: Where a fetch puts origin's notes before they are merged into ours (never pushed).
_THEIRS_REF = "refs/notes/keras-ct-origin"
PUSH_ATTEMPTS = 3


@dataclass(frozen=True)
class Note:
    """What a trained commit scored: the metric's name and value, and the round and branch of the run."""

    metric: str
    accuracy: float
    round: int = 1
    branch: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Note | None:
        """The note, or None when the text is not one of keras-ct's notes."""
        try:
            data = json.loads(text)
            return cls(str(data["metric"]), float(data["accuracy"]), int(data["round"]), str(data["branch"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class Notes:
    """keras-ct's notes in ``repo``'s checkout, fetched from and pushed to its remote (through
    ``GitRepo``'s one command runner: the token only on fetch and push, secrets redacted)."""

    repo: GitRepo

    def fetch(self) -> bool:
        """Merge origin's notes into ours; False when origin has none yet (or there is no origin)."""
        if self.repo._git("remote", "get-url", self.repo.remote, check=False).returncode != 0:
            return False
        fetched = f"+{NOTES_REF}:{_THEIRS_REF}"
        done = self.repo._git(
            "fetch",
            "--quiet",
            "--no-tags",
            self.repo.remote,
            fetched,
            check=False,
            remote=True,
            timeout=NETWORK_TIMEOUT_S,
        )
        if done.returncode != 0:
            if "couldn't find remote ref" in (done.stderr or "").lower():
                return False
            raise GitError(f"could not fetch keras-ct's notes ({NOTES_REF}): {self.repo._clean(done.stderr)}")
        if self._has(NOTES_REF):
            self.repo._git("notes", f"--ref={NOTES_REF}", "merge", "--quiet", "-s", "theirs", _THEIRS_REF)
        else:
            self.repo._git("update-ref", NOTES_REF, _THEIRS_REF)
        return True

    def read(self, sha: str) -> Note | None:
        done = self.repo._git("notes", f"--ref={NOTES_REF}", "show", sha, check=False)
        return Note.from_json(done.stdout) if done.returncode == 0 else None

    def annotated(self) -> frozenset[str]:
        """The commits that have a note."""
        if not self._has(NOTES_REF):
            return frozenset()
        lines = self.repo._git("notes", f"--ref={NOTES_REF}", "list").stdout.splitlines()
        return frozenset(line.split()[1] for line in lines if len(line.split()) == 2)

    def write(self, sha: str, note: Note) -> None:
        self.repo._git("notes", f"--ref={NOTES_REF}", "add", "--force", "--message", note.to_json(), sha)

    def push(self) -> None:
        """Push the notes ref; after a rejection (another run pushed notes) merge theirs and try again."""
        for _ in range(PUSH_ATTEMPTS):
            done = self.repo._git(
                "push",
                "--quiet",
                self.repo.remote,
                f"{NOTES_REF}:{NOTES_REF}",
                check=False,
                remote=True,
                timeout=NETWORK_TIMEOUT_S,
            )
            if done.returncode == 0:
                return
            if "rejected" not in done.stderr and "fetch first" not in done.stderr:
                break
            self.fetch()
        raise GitError(
            f"could not push keras-ct's notes ({NOTES_REF}) to {self.repo.remote}: "
            f"{self.repo._clean(done.stderr)}; the job needs `permissions: contents: write`"
        )

    def merge_base(self, branch: str) -> str:
        """The merge-base of HEAD and ``branch`` (origin's copy when there is one), "" when none."""
        for ref in (f"refs/remotes/{self.repo.remote}/{branch}", f"refs/heads/{branch}"):
            if self._has(ref):
                done = self.repo._git("merge-base", "HEAD", ref, check=False)
                return done.stdout.strip() if done.returncode == 0 else ""
        return ""

    def default_branch(self) -> str:
        """The remote's default branch (``origin/HEAD``), else ``main`` or ``master`` where one exists."""
        done = self.repo._git("symbolic-ref", "--short", f"refs/remotes/{self.repo.remote}/HEAD", check=False)
        if done.returncode == 0:
            return done.stdout.strip().removeprefix(f"{self.repo.remote}/")
        return next((b for b in ("main", "master") if self._has(f"refs/heads/{b}")), "")

    def ancestors(self, sha: str, limit: int) -> Sequence[str]:
        """``sha`` and its first-parent ancestors, newest first, at most ``limit``."""
        return self.repo._git("rev-list", "--first-parent", f"--max-count={limit}", sha).stdout.split()

    def _has(self, ref: str) -> bool:
        return self.repo._git("rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0
