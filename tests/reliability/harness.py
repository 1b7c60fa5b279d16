"""What the reliability tests share: a checkout + fake GitHub ("world"), running `keras-ct run` the way
the action does, and reading back what a user would see (annotations, comment, statuses, the remote).

Built on ``tests.integration.repo_setup`` (real git checkout with a bare remote, the stand-in trainer
that scores a model by its Conv2D count: 1 conv -> 0.80, 2 -> 0.90, threshold 0.85).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_ct import orchestrate
from keras_ct.augment import AugmentResult, plan_edit
from keras_ct.cli import main
from keras_ct.config import Config, load_config
from keras_ct.errors import KerasCTError
from keras_ct.github.client import GitHubClient
from keras_ct.github.retry import RetryPolicy
from keras_ct.round.history import RoundRecord
from keras_ct.runner import Runner
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import PR_NUMBER, REPOSITORY, WRITE_TOKEN
from tests.integration.repo_setup import ROOT, Checkout, actions_env, git, make_checkout, pr_event

#: Tiny delays, few attempts: a persistent fault gives up in well under a second.
FAST_RETRY = RetryPolicy(
    max_attempts=3,
    max_elapsed_s=10.0,
    base_delay_s=0.01,
    max_delay_s=0.05,
    secondary_default_wait_s=0.01,
    confirm_window_s=0.2,
    confirm_interval_s=0.05,
)
#: PyGithub takes whole seconds: a "slow" fault must answer later than this to be a timeout.
CLIENT_TIMEOUT_S = 1

# Stand-in trainers written into the checkout (committed, so the tree is clean). They run with the
# environment keras-ct gives the train command; STAND_IN_* variables pick the behaviour.
ENV_DUMP = """\
import json, os
from pathlib import Path
Path(os.environ["STAND_IN_ENV_DUMP"]).write_text(json.dumps(dict(os.environ)))
exec(compile(Path("train_fake.py").read_text(), "train_fake.py", "exec"))
"""
WRITE_METRICS = """\
import os, sys
from pathlib import Path
text = os.environ.get("STAND_IN_METRICS")
if text is not None:
    Path(os.environ["KERAS_CT_METRICS_FILE"]).write_text(text)
print("stand-in trainer done")
"""


@dataclass(frozen=True)
class Annotation:
    kind: str
    properties: dict[str, str]
    message: str


_COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def _unescape(text: str, *, prop: bool = False) -> str:
    pairs = (
        [("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ",")] if prop else [("%0D", "\r"), ("%0A", "\n")]
    )
    for escaped, plain in pairs:
        text = text.replace(escaped, plain)
    return text.replace("%25", "%")


def annotations(stdout: str, kind: str = "error") -> list[Annotation]:
    found = []
    for line in stdout.splitlines():
        match = _COMMAND.match(line)
        if match and match.group(1) == kind:
            props = {}
            for part in (match.group(2) or "").split(","):
                if part:
                    key, _, value = part.partition("=")
                    props[key] = _unescape(value, prop=True)
            found.append(Annotation(kind, props, _unescape(match.group(3))))
    return found


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[Annotation]:
        return annotations(self.out)

    def one_error(self) -> Annotation:
        errors = self.errors
        assert len(errors) == 1, f"expected one ::error, got {len(errors)}:\n{self.out[-3000:]}"
        return errors[0]


@dataclass(frozen=True)
class Snapshot:
    """Everything a broken round must leave as it was."""

    head: str
    status: str
    tracked: dict[str, bytes]
    remote_refs: str

    @classmethod
    def take(cls, checkout: Checkout) -> Snapshot:
        files = git(checkout.work, "ls-files", "-z").split("\0")
        return cls(
            head=checkout.head(),
            status=git(checkout.work, "status", "--porcelain=v1", "--untracked-files=all"),
            tracked={name: (checkout.work / name).read_bytes() for name in files if name},
            remote_refs=git(checkout.bare, "for-each-ref", "--format=%(refname) %(objectname)"),
        )


@dataclass
class World:
    """A PR branch checked out from a bare remote, the fake GitHub's repo wired to that remote."""

    tmp: Path
    checkout: Checkout
    fake: FakeGitHub
    token: str = WRITE_TOKEN
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def repo(self) -> Any:
        return self.fake.repo(REPOSITORY)

    @property
    def work(self) -> Path:
        return self.checkout.work

    def env(self, inputs: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
        """The environment of the action's `keras-ct run` step on a pull_request event."""
        env = actions_env(
            self.tmp,
            self.checkout,
            self.fake.api_url,
            self.token,
            event=pr_event(self.checkout),
            inputs=dict(inputs or {}),
        )
        env["GITHUB_WORKSPACE"] = str(self.work)
        env.update(self.extra_env)
        env.update(extra)
        return env

    def dispatched_env(
        self, round_number: int, inputs: Mapping[str, str] | None = None, **extra: str
    ) -> dict[str, str]:
        """The environment of the dispatched run for ``round_number`` (workflow_dispatch on the branch)."""
        dispatch_inputs = {"round": str(round_number), "pr-number": str(PR_NUMBER)}
        env = actions_env(
            self.tmp,
            self.checkout,
            self.fake.api_url,
            self.token,
            event_name="workflow_dispatch",
            event={"inputs": dispatch_inputs},
            inputs={**dispatch_inputs, **(inputs or {})},
        )
        env["GITHUB_SHA"] = self.checkout.head()
        env["GITHUB_WORKSPACE"] = str(self.work)
        env.update(self.extra_env)
        env.update(extra)
        return env

    def statuses(self) -> list[tuple[str, str, str]]:
        return [(s.sha, s.state, s.description or "") for s in self.repo.statuses]

    def comment(self) -> str:
        comments = self.repo.comments
        assert len(comments) == 1, f"expected one comment, got {len(comments)}"
        return comments[0].body

    def commit_files(self, files: Mapping[str, str], message: str = "test set-up") -> None:
        """Commit ``files`` on the PR branch and push them, as the PR's author would."""
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git(self.work, "add", *files)
        git(self.work, "commit", "-qm", message)
        git(self.work, "push", "-q", "origin", self.checkout.branch)
        self.repo.pulls[PR_NUMBER].head_sha = self.checkout.head()


@dataclass(frozen=True)
class Checkpoint:
    """A world's state to return to: local HEAD, the remote branch, the fake's state."""

    head: str
    remote: str
    state: Any


def checkpoint(world: World) -> Checkpoint:
    return Checkpoint(world.checkout.head(), world.checkout.remote_head(), copy.deepcopy(world.fake.state))


def restore(world: World, saved: Checkpoint) -> None:
    """Put the checkout, its remote and the fake back as they were (cheaper than a new world)."""
    git(world.checkout.bare, "update-ref", f"refs/heads/{world.checkout.branch}", saved.remote)
    git(world.work, "reset", "-q", "--hard", saved.head)
    shutil.rmtree(world.work / ".keras-ct", ignore_errors=True)
    with world.fake.lock:
        world.fake.state = copy.deepcopy(saved.state)
        world.fake.exchanges.clear()
        world.fake.violations.clear()


def make_world(tmp_path: Path, fake: FakeGitHub, *, branch: str = "improve-model") -> World:
    checkout = make_checkout(tmp_path, branch=branch)
    repo = fake.repo(REPOSITORY)
    repo.git_dir = str(checkout.bare)
    pull = repo.pulls[PR_NUMBER]
    pull.head_ref = branch
    pull.head_sha = checkout.head()
    world = World(tmp_path, checkout, fake)
    world.commit_files(
        {
            "env_dump.py": ENV_DUMP,
            "write_metrics.py": WRITE_METRICS,
            "ml_task/train.py": (ROOT / "ml_task" / "train.py").read_text(encoding="utf-8"),
        },
        "stand-in trainers and the real ml_task/train.py",
    )
    return world


def run_cli(env: Mapping[str, str], argv: Sequence[str] = ("run",)) -> Result:
    """`keras-ct run` exactly as the console script runs it (in-process), its stdout/stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), dict(env))
    return Result(code, out.getvalue(), err.getvalue())


def start_cli(world: World, env: Mapping[str, str], **streams: Any) -> subprocess.Popen[Any]:
    """`keras-ct run` as a process of its own in the checkout (``python -m keras_ct``), stdout piped;
    ``streams``: the other ``Popen`` arguments (stdin, stderr, text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "keras_ct", "run"],
        cwd=world.work,
        env=dict(env),
        stdout=subprocess.PIPE,
        **streams,
    )


def fast_client(world: World, *, retry: RetryPolicy = FAST_RETRY) -> GitHubClient:
    return GitHubClient(
        repository=REPOSITORY,
        token=world.token,
        api_url=world.fake.api_url,
        timeout_s=CLIENT_TIMEOUT_S,
        retry=retry,
    )


@functools.lru_cache(maxsize=8)
def _plan_conv_block(source: str, model_function: str, path: str) -> Any:
    return plan_edit(source, "conv-block", model_function=model_function, path=path)


def conv_block_without_build(cfg: Config, records: Sequence[RoundRecord]) -> AugmentResult:
    """The augmenter's real libcst edit (a conv block), written without the TensorFlow build proof.

    The fault and git matrices are about what happens around the edit; proving builds costs a
    TensorFlow import per run and is covered by tests/augment and the training-marked tests.
    """
    source = cfg.model_path.read_text(encoding="utf-8")
    edit = _plan_conv_block(source, cfg.model_function, str(cfg.model_file))
    cfg.model_path.write_text(edit.new_source, encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True),
            edit.new_source.splitlines(keepends=True),
            f"a/{cfg.model_file}",
            f"b/{cfg.model_file}",
        )
    )
    return AugmentResult(
        path=cfg.model_path,
        change="conv-block",
        rationale="the stand-in trainer scores capacity",
        description=edit.description,
        diff=diff,
        params_before=None,
        params_after=None,
        tried=(),
        written=True,
    )


def run_wired(
    env: Mapping[str, str],
    *,
    api: Any = None,
    augmenter: Any = conv_block_without_build,
) -> Result:
    """`keras-ct run` through ``orchestrate.run_action`` with the client and augmenter the test built.

    Same config loading, runner and error handling as ``keras_ct.cli.main``; only the two
    injectable edges differ.
    """
    environ = dict(env)
    out, err = io.StringIO(), io.StringIO()
    runner = Runner.from_environ(environ)
    runner.out, runner.err = out, err
    try:
        cfg = load_config({}, environ)
        code = orchestrate.run_action(cfg, runner, environ, api=api, augmenter=augmenter)
    except KerasCTError as exc:
        runner.error(exc.message, file=exc.file, line=exc.line)
        runner.add_summary(f"### keras-ct failed\n\n{exc.message}\n")
        code = exc.exit_code
    return Result(code, out.getvalue(), err.getvalue())


def start_model(*, prelude: str = "", check: str = "") -> str:
    """ml_task's start model (one Conv2D + MaxPooling2D block on 28x28 digits), with ``prelude`` after
    the imports and ``check`` (indented lines) before ``build_model`` compiles it."""
    source = (ROOT / "ml_task" / "model.py").read_text(encoding="utf-8")
    imports, compiles = "from keras import layers\n", "    model.compile("
    assert source.count(imports) == source.count(compiles) == 1, "ml_task/model.py changed its shape"
    return source.replace(imports, imports + prelude).replace(compiles, check + compiles)


def python_command(code: str) -> str:
    """A train-command running ``code`` with this interpreter (shlex-quoted)."""
    import shlex

    return shlex.join([sys.executable, "-c", code])


def bare_log(checkout: Checkout, rev: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(checkout.bare), "log", "--format=%H %s", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
