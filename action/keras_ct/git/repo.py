"""``GitRepo``: the git commands of a round (reading, the commit, the push), run safely.

See the package docstring for what every command guarantees.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keras_ct.errors import GitError
from keras_ct.git.auth import auth_env, basic_credential, redact, without_secrets
from keras_ct.git.failures import (
    BranchMovedError,
    DetachedHeadError,
    DirtyTreeError,
    PushRejectedError,
    branch_moved,
    commit_failed,
    failed_hook,
    push_refused,
)
from keras_ct.git.trailers import LOG_FORMAT, TrailerCommit, build_message, parse_log, scoped
from keras_ct.round.interrupts import deferred_signals

NETWORK_TIMEOUT_S = 120.0
LOCAL_TIMEOUT_S = 60.0
#: How long an interrupted git command gets to end on SIGTERM (and remove its locks) before SIGKILL.
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class PushResult:
    branch: str
    old_sha: str
    new_sha: str
    pushed: bool  # False when the remote already had new_sha


@dataclass
class GitRepo:
    """A working tree keras-ct may commit in and push from.

    ``bot``: keras-ct's own commit under Actions (as ``author``, github-actions[bot]): no hooks run and
    it is not signed, whatever the checkout's git config says. Otherwise (``keras-ct loop --commit``)
    the commit is the user's: their hooks run and their signing config (``commit.gpgsign``) applies.
    """

    root: Path
    author: tuple[str, str] | None = None  # (name, email); None: the user's git identity
    remote: str = "origin"
    secrets: tuple[str, ...] = ()
    log: Callable[[str], None] | None = None  # receives each command, redacted
    bot: bool = False
    token: str = field(default="", repr=False)  # sent on ls-remote and push only (``auth_env``)
    server_url: str = "https://github.com"  # the only URLs the token is sent to
    name: str = ""  # the model's name: its commits carry it, and only its commits are read back
    _env: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.token:
            self.secrets = (*self.secrets, self.token, basic_credential(self.token))
        self._env = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        if self.author is not None:
            name, email = self.author
            self._env.update(
                GIT_AUTHOR_NAME=name,
                GIT_AUTHOR_EMAIL=email,
                GIT_COMMITTER_NAME=name,
                GIT_COMMITTER_EMAIL=email,
            )

    # -- plumbing ------------------------------------------------------------------------------
    def _git(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = LOCAL_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        remote: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run git in the tree. ``remote``: a command that talks to the remote, the only kind that
        gets the token, and then with no hooks and no credential helpers (``core.hooksPath``,
        ``credential.helper`` reset on its command line: the values are not secret)."""
        shown = redact("git " + " ".join(args), self.secrets)
        if self.log is not None:
            self.log(shown)
        git_env = {**without_secrets(os.environ), **self._env, **(env or {})}
        prefix: tuple[str, ...] = ()
        if remote:
            prefix = ("-c", "core.hooksPath=/dev/null", "-c", "credential.helper=")
            if self.token:
                git_env.update(auth_env(git_env, self.server_url, self.token))
        argv = ["git", *prefix, *args]
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.root,
                stdin=subprocess.PIPE if input is not None else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=git_env,
            )
        except FileNotFoundError:
            raise GitError(
                "git is not installed or not on PATH; keras-ct needs it to commit and push"
            ) from None
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise GitError(
                f"`{shown}` did not finish within {timeout:.0f} s (network or credential prompt?)"
            ) from None
        except BaseException:  # an interrupt: let git clean up its lock files, then go on unwinding
            with deferred_signals():
                _stop(proc)
            raise
        done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
        if check and done.returncode != 0:
            raise GitError(
                f"`{shown}` failed (exit {done.returncode}): {self._clean(done.stderr or done.stdout)}"
            )
        return done

    def _clean(self, text: str) -> str:
        return redact(text.strip(), self.secrets)

    # -- reading -------------------------------------------------------------------------------
    def head(self) -> str:
        """The SHA of HEAD."""
        return self._git("rev-parse", "HEAD").stdout.strip()

    def current_branch(self) -> str | None:
        """The checked-out branch, or None when HEAD is detached."""
        done = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return done.stdout.strip() or None

    def ensure_branch(self) -> str:
        """The checked-out branch; ``DetachedHeadError`` (before training) when HEAD is detached."""
        branch = self.current_branch()
        if branch is None:
            at = self._git("rev-parse", "--short", "HEAD", check=False).stdout.strip()
            raise DetachedHeadError(
                f"HEAD is detached in {self.root}{f' (at {at})' if at else ''}: `keras-ct loop --commit` "
                "commits each change on the checked-out branch, and a detached HEAD has none, so the "
                "commits would be easy to lose. Create a branch here first (`git switch -c <branch>`), "
                "or run without --commit."
            )
        return branch

    def dirty_paths(self) -> list[str]:
        """Tracked files with staged or unstaged changes (untracked files are not counted)."""
        done = self._git("status", "--porcelain=v1", "-z", "--untracked-files=no")
        entries = [e for e in done.stdout.split("\0") if e]
        paths: list[str] = []
        skip = False
        for entry in entries:
            if skip:  # the source path of a rename/copy
                skip = False
                continue
            status, path = entry[:2], entry[3:]
            paths.append(path)
            skip = "R" in status or "C" in status
        return paths

    def ensure_clean(self, paths: Sequence[Path | str] = ()) -> None:
        """Refuse a dirty tree before augmenting: no tracked file may have uncommitted changes.

        ``paths`` (the files about to be edited) must also be tracked, so the commit shows the change.
        Untracked files elsewhere (build outputs) are allowed: only ``paths`` are ever committed.
        """
        dirty = self.dirty_paths()
        untracked = [rel for rel in (self._relative(p) for p in paths) if not self._tracked(rel)]
        if dirty:
            shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
            raise DirtyTreeError(
                f"the working tree in {self.root} has uncommitted changes ({shown}); keras-ct refuses to "
                "augment the model on top of them, because the commit would not match what was trained. "
                "Commit or stash them (`git stash`), or discard them (`git checkout -- .`), then run again.",
                paths=tuple(dirty),
            )
        if untracked:
            raise DirtyTreeError(
                f"{', '.join(untracked)} is not tracked by git in {self.root}; commit it first so the "
                "augmented change can be committed on top of it.",
                paths=tuple(untracked),
            )

    def _tracked(self, path: Path | str) -> bool:
        rel = self._relative(path)
        return self._git("ls-files", "--error-unmatch", "--", rel, check=False).returncode == 0

    def _relative(self, path: Path | str) -> str:
        candidate = Path(path)
        if candidate.is_absolute():
            try:
                return str(candidate.resolve().relative_to(self.root.resolve()))
            except ValueError:
                raise GitError(f"{candidate} is outside the repository {self.root}") from None
        return str(candidate)

    def trailer_commits(self, rev: str = "HEAD", max_count: int = 1000) -> list[TrailerCommit]:
        """Commits reachable from ``rev`` (newest first) that carry a ``Keras-CT-Round`` trailer.

        In a shallow clone only the fetched history is seen; HEAD (the last round's commit in a
        dispatched run) always is.
        """
        done = self._git("log", f"--max-count={max_count}", f"--format={LOG_FORMAT}", rev, "--")
        return parse_log(done.stdout, self.name)

    def round_trailers(self) -> dict[int, str]:
        """Round number -> SHA of the newest commit that finished that round (from the trailers)."""
        rounds: dict[int, str] = {}
        for commit in self.trailer_commits():
            rounds.setdefault(commit.round, commit.sha)
        return rounds

    def remote_sha(self, branch: str) -> str | None:
        """Where ``branch`` is on the remote now (``git ls-remote``), or None when it does not exist."""
        ref = f"refs/heads/{branch}"
        done = self._git("ls-remote", "--heads", self.remote, ref, timeout=NETWORK_TIMEOUT_S, remote=True)
        for line in done.stdout.splitlines():
            sha, _, name = line.partition("\t")
            if name.strip() == ref:
                return sha.strip()
        return None

    # -- writing -------------------------------------------------------------------------------
    def restore(self, sha: str, paths: Sequence[Path | str]) -> None:
        """Put ``paths`` in the work tree back as commit ``sha`` has them, byte for byte (``commit``
        stages them); a path ``sha`` lacks stays as it is."""
        for path in paths:
            rel = self._relative(path)
            if self._git("cat-file", "-e", f"{sha}:./{rel}", check=False).returncode == 0:
                self._git("restore", f"--source={sha}", "--worktree", "--", rel)

    def commit(self, paths: Sequence[Path | str], message: str, trailers: Mapping[str, str]) -> str:
        """Commit exactly ``paths`` (nothing else that may be staged) with ``message`` and trailers.

        The user's commit (``bot`` false) runs their hooks and follows their signing config; the bot's
        skips every hook and is unsigned (see ``GitRepo``). When the commit does not happen (a hook or
        signing fails, an interrupt) ``paths`` are unstaged again: the index is as before the call.
        """
        if not paths:
            raise GitError("nothing to commit: no paths were given")
        relative = [self._relative(p) for p in paths]
        before = self._head_or_none()
        with tempfile.TemporaryDirectory(prefix="keras-ct-commit-") as scratch:
            trace = Path(scratch) / "trace2.json"
            try:
                self._git("add", "--", *relative)
                if not self._git("diff", "--cached", "--quiet", "--", *relative, check=False).returncode:
                    raise GitError(f"nothing to commit: {', '.join(relative)} did not change")
                done = self._git(
                    *self._commit_args(),
                    "--",
                    *relative,
                    input=build_message(message, scoped(trailers, self.name)),
                    check=False,
                    env={"GIT_TRACE2_EVENT": str(trace)},
                )
                if done.returncode != 0:
                    detail = self._clean(done.stderr or done.stdout)
                    raise commit_failed(detail, relative, failed_hook(trace), self._signing_on)
            except BaseException:
                self._unstage_unless_committed(before, relative)
                raise
        return self.head()

    def _commit_args(self) -> list[str]:
        if self.bot:  # no hook at all (not only pre-commit and commit-msg), and unsigned
            return ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "commit", "--quiet",
                    "--no-verify", "-F", "-"]  # fmt: skip
        return ["commit", "--quiet", "-F", "-"]

    def _head_or_none(self) -> str | None:
        done = self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return done.stdout.strip() or None

    def _unstage_unless_committed(self, before: str | None, relative: Sequence[str]) -> None:
        """Put ``relative`` back in the index as HEAD has them, unless HEAD moved (the commit happened)."""
        with deferred_signals():
            if self._head_or_none() != before:
                return  # committed: keep it
            args = (
                ("reset", "--quiet", "--", *relative)
                if before
                else ("rm", "--cached", "--quiet", "--", *relative)
            )
            done = self._git(*args, check=False)
        if done.returncode != 0:
            raise GitError(
                f"{', '.join(relative)} could not be unstaged after the commit did not happen "
                f"({self._clean(done.stderr or done.stdout)}); run `git reset -- {' '.join(relative)}`"
            )

    def _signing_on(self) -> bool:
        """Whether the user's git config signs this commit (the bot's commit is never signed)."""
        if self.bot:
            return False
        done = self._git("config", "--type=bool", "commit.gpgsign", check=False)
        return done.stdout.strip() == "true"

    def push(self, branch: str, expected_remote_sha: str) -> PushResult:
        """Push HEAD to ``branch`` without force, only if the remote is still at ``expected_remote_sha``.

        Raises ``BranchMovedError`` when someone else pushed (seen by ``ls-remote`` first, or as a
        non-fast-forward rejection in the race after it) and ``PushRejectedError`` when the remote
        refuses for another reason; nothing was pushed in either case.
        """
        head = self.head()
        actual = self.remote_sha(branch)
        if actual != expected_remote_sha:
            raise self._moved(branch, expected_remote_sha, actual)
        if head == expected_remote_sha:
            return PushResult(branch, expected_remote_sha, head, pushed=False)
        done = self._git(
            "push",
            "--porcelain",
            self.remote,
            f"HEAD:refs/heads/{branch}",
            check=False,
            timeout=NETWORK_TIMEOUT_S,
            remote=True,
        )
        if done.returncode == 0:
            return PushResult(branch, expected_remote_sha, head, pushed=True)
        output = self._clean(done.stdout + "\n" + done.stderr)
        rejected = re.search(r"^!\t[^\t]*\t\[(remote rejected|rejected)\] \((.*)\)$", output, re.MULTILINE)
        if rejected and rejected.group(1) == "rejected":
            raise self._moved(
                branch, expected_remote_sha, self._remote_sha_or_none(branch), rejected.group(2)
            )
        if rejected:
            raise push_refused(branch, rejected.group(2))
        raise PushRejectedError(f"git push to {branch} failed: {output}", branch=branch, reason="error")

    # -- branch-less commits: the fan-out's candidates (``keras_ct.round.fanout``) --------------------
    def commit_beside(self, path: Path | str, text: str, message: str) -> str:
        """A commit whose parent is HEAD and whose tree is HEAD's with ``path`` holding ``text``, on no
        branch: the work tree, the index and HEAD stay as they are."""
        rel = self._relative(path)
        blob = self._git("hash-object", "-w", "--stdin", input=text).stdout.strip()
        listed = self._git("ls-files", "-s", "--", rel).stdout.split()
        mode = listed[0] if listed else "100644"
        with tempfile.TemporaryDirectory() as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._git("read-tree", "HEAD", env=env)
            self._git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{rel}", env=env)
            tree = self._git("write-tree", env=env).stdout.strip()
        return self._git("commit-tree", tree, "-p", "HEAD", input=message).stdout.strip()

    def push_refs(self, refs: Mapping[str, str]) -> None:
        """Point each of keras-ct's own refs (ref -> SHA, outside ``refs/heads``) at its commit on the
        remote; forced, as a re-run's candidates replace the last run's (never a branch)."""
        if any(ref.startswith("refs/heads/") for ref in refs):
            raise GitError("push_refs never moves a branch")
        spec = [f"+{sha}:{ref}" for ref, sha in refs.items()]
        self._git("push", "--porcelain", self.remote, *spec, timeout=NETWORK_TIMEOUT_S, remote=True)

    def fetch_commits(self, shas: Sequence[str]) -> None:
        """Fetch commits by SHA (those this checkout lacks) from the remote."""
        missing = [s for s in shas if self._git("cat-file", "-e", f"{s}^{{commit}}", check=False).returncode]
        if missing:
            self._git("fetch", "--quiet", self.remote, *missing, timeout=NETWORK_TIMEOUT_S, remote=True)

    def parent(self, sha: str) -> str:
        return self._git("rev-parse", f"{sha}^").stdout.strip()

    def _remote_sha_or_none(self, branch: str) -> str | None:
        try:
            return self.remote_sha(branch)
        except GitError:
            return None

    def _moved(self, branch: str, expected: str, actual: str | None, reason: str = "") -> BranchMovedError:
        return branch_moved(self.remote, branch, expected, actual, reason)


def _stop(proc: subprocess.Popen[str]) -> None:
    """End a git command: SIGTERM first (git removes its lock files on it), SIGKILL after a grace."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def open_repo(
    path: Path | str,
    *,
    author: tuple[str, str] | None = None,
    remote: str = "origin",
    secrets: Sequence[str] = (),
    log: Callable[[str], None] | None = None,
    bot: bool = False,
    token: str = "",
    server_url: str = "https://github.com",
    name: str = "",
) -> GitRepo:
    """The git working tree that contains ``path`` (its top level), or a ``GitError`` saying why not.

    ``bot``: commits are keras-ct's own under Actions (no hooks, unsigned; see ``GitRepo``).
    ``token`` authenticates ``ls-remote`` and ``push`` to ``server_url`` (``auth_env``); ``name`` is
    the model's (its commits' trailer)."""
    start = Path(path)
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
            timeout=LOCAL_TIMEOUT_S,
            env=without_secrets(os.environ),
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; keras-ct needs it to commit and push") from None
    except NotADirectoryError:
        raise GitError(f"{start} is not a directory") from None
    if done.returncode != 0:
        raise GitError(
            f"{start} is not inside a git repository ({done.stderr.strip()}); keras-ct commits the "
            "augmented model there. Run it in a clone, or turn commits off (`commit: false`)."
        )
    return GitRepo(
        Path(done.stdout.strip()), author, remote, tuple(secrets), log, bot, token, server_url, name
    )
