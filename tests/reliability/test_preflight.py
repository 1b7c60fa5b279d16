"""Preflight: a round that would delete or overwrite a user's file, or that could only be refused after
training, is refused before any training process starts.

Every refusal runs the real CLI with a train command whose first act is to create ``STARTED``, and
asserts what a user sees: exit 2, one ``keras-ct: error:`` line naming the input and the path, no
``STARTED`` (nothing trained), and the user's file byte-identical afterwards.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark import ParameterSet

from keras_ct.cli import main
from keras_ct.config import load_config
from keras_ct.round import preflight
from keras_ct.train.launch import forget_metrics
from tests.integration.repo_setup import ROOT, git, pr_event
from tests.reliability.harness import World, python_command, run_cli

#: The train command of every refusal: it marks that a training process started, first thing.
STARTS = python_command("open('STARTED', 'w').close()")
#: A training that passes the default threshold (0.95) at once: for the runs that must go through.
PASSES = python_command(
    "import json, os\n"
    "json.dump({'schema_version': 1, 'accuracy': 0.99}, open(os.environ['KERAS_CT_METRICS_FILE'], 'w'))"
)
KEEP = b"my notes, not keras-ct's\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's clean repository: the model, a training script, a config file; an untracked keep.txt."""
    work = tmp_path / "repo"
    (work / "ml_task").mkdir(parents=True)
    (work / "ml_task" / "model.py").write_text((ROOT / "ml_task" / "model.py").read_text())
    (work / "ml_task" / "train.py").write_text("print('the real training script')\n")
    (work / ".keras-ct.yml").write_text("threshold: 0.95\n")
    (work / ".gitignore").write_text(".keras-ct/\nSTARTED\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "config", "user.name", "Dev")
    git(work, "config", "user.email", "dev@example.com")
    git(work, "add", ".")
    git(work, "commit", "-qm", "start")
    (work / "keep.txt").write_bytes(KEEP)
    monkeypatch.chdir(work)  # --report is taken from the current directory
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return work


@dataclass
class Ran:
    code: int
    out: str
    err: str


def keras_ct(argv: list[str], environ: dict[str, str], *, command: str = STARTS) -> Ran:
    """The console script's ``main``, in-process, as a user runs it in a terminal."""
    out, err = io.StringIO(), io.StringIO()
    full = [*argv, "--train-command", command, "--python", sys.executable]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(full, environ)
    return Ran(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Refusal:
    argv: list[str]
    says: tuple[str, ...]  # what the one error line must contain: the input, the path, the reason
    kept: str = "keep.txt"  # the user's file that must be byte-identical afterwards
    setup: Callable[[Path], None] = field(default=lambda work: None)


def _user_round_dir(work: Path) -> None:
    (work / "out" / "round-1").mkdir(parents=True)
    (work / "out" / "round-1" / "metrics.json").write_bytes(KEEP)


def _tracked_metrics(work: Path) -> None:
    (work / ".keras-ct" / "round-1").mkdir(parents=True)
    (work / ".keras-ct" / "round-1" / "metrics.json").write_bytes(KEEP)
    git(work, "add", "--force", ".keras-ct/round-1/metrics.json")
    git(work, "commit", "-qm", "the metrics I keep")


def _dirty(work: Path) -> None:
    with (work / "ml_task" / "model.py").open("a") as handle:
        handle.write("# an edit not committed yet\n")


def _untracked_model(work: Path) -> None:
    shutil.copy(work / "ml_task" / "model.py", work / "ml_task" / "new_model.py")


def _model_links_out(work: Path) -> None:
    outside = work.parent / "elsewhere"
    outside.mkdir()
    shutil.copy(work / "ml_task" / "model.py", outside / "model.py")
    (work / "ml_task" / "linked.py").symlink_to(outside / "model.py")


def _not_a_repository(work: Path) -> None:
    shutil.rmtree(work / ".git")


def refusal(id: str, argv: list[str], *says: str, **fields: Any) -> ParameterSet:
    return pytest.param(Refusal(argv, says, **fields), id=id)


def flag_refused(id: str, command: str, flag: str, value: str, reason: str, **fields: Any) -> ParameterSet:
    """``keras-ct COMMAND FLAG VALUE`` refused: the error names the flag and its value, then the reason."""
    return refusal(id, [command, flag, value], f"{flag} {value}", reason, **fields)


REFUSALS = [
    flag_refused("metrics-file-names-a-user-file", "run", "--metrics-file", "keep.txt", "did not write it"),
    refusal(
        "metrics-file-from-the-config-file-names-a-user-file",
        ["run"],
        ".keras-ct.yml line 2 (metrics-file) keep.txt exists",
        "did not write it",
        setup=lambda work: (work / ".keras-ct.yml").write_text("threshold: 0.95\nmetrics-file: keep.txt\n"),
    ),
    flag_refused(
        "metrics-file-is-the-model",
        "run",
        "--metrics-file",
        "ml_task/model.py",
        "is the model-file",
        kept="ml_task/model.py",
    ),
    flag_refused(
        "metrics-file-is-the-config-file",
        "loop",
        "--metrics-file",
        ".keras-ct.yml",
        "is the config file",
        kept=".keras-ct.yml",
    ),
    flag_refused(
        "report-is-the-model",
        "loop",
        "--report",
        "ml_task/model.py",
        "is the model-file",
        kept="ml_task/model.py",
    ),
    flag_refused("report-names-a-user-file", "loop", "--report", "keep.txt", "did not write it"),
    flag_refused("output-dir-is-a-file", "run", "--output-dir", "keep.txt", "is a file, not a folder"),
    flag_refused("checkpoint-dir-is-a-file", "run", "--checkpoint-dir", "keep.txt", "is a file"),
    flag_refused("metrics-file-is-a-folder", "run", "--metrics-file", "ml_task", "is a folder"),
    flag_refused("report-is-a-folder", "loop", "--report", "ml_task", "is a folder"),
    flag_refused(
        "metrics-file-cannot-be-created",
        "run",
        "--metrics-file",
        "/proc/nope/m.json",
        "cannot create the folder /proc/nope",
    ),
    flag_refused(
        "output-dir-holds-a-user-round-folder",
        "run",
        "--output-dir",
        "out",
        "round-1 exists and keras-ct did not create it",
        kept="out/round-1/metrics.json",
        setup=_user_round_dir,
    ),
    refusal(
        "metrics-file-tracked-by-git",
        ["run"],
        "metrics-file",
        "git tracks .keras-ct/round-1/metrics.json",
        kept=".keras-ct/round-1/metrics.json",
        setup=_tracked_metrics,
    ),
    flag_refused("output-dir-not-writable", "run", "--output-dir", "/sys", "cannot create files in /sys"),
    flag_refused(
        "checkpoint-dir-not-writable", "loop", "--checkpoint-dir", "/sys", "cannot create files in /sys"
    ),
    refusal(
        "dirty-tree-when-committing",
        ["loop", "--commit"],
        "--commit is on",
        "uncommitted changes (ml_task/model.py)",
        kept="ml_task/model.py",
        setup=_dirty,
    ),
    refusal(
        "untracked-model-when-committing",
        ["loop", "--commit", "--model-file", "ml_task/new_model.py"],
        "--commit is on",
        "ml_task/new_model.py is not tracked by git",
        kept="ml_task/new_model.py",
        setup=_untracked_model,
    ),
    refusal(
        "model-file-links-out-of-the-repository",
        ["loop", "--model-file", "ml_task/linked.py"],
        "--model-file ml_task/linked.py resolves to",
        "elsewhere/model.py",
        "outside the repository",
        kept="ml_task/linked.py",
        setup=_model_links_out,
    ),
    refusal(
        "commit-outside-a-repository",
        ["loop", "--commit"],
        "--commit is on",
        "is not inside a git repository",
        setup=_not_a_repository,
    ),
]


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_before_training_and_the_users_file_is_kept(
    repo: Path, clean_environ: dict[str, str], case: Refusal
) -> None:
    case.setup(repo)
    kept = (repo / case.kept).read_bytes()
    argv = [case.argv[0], "--working-directory", str(repo), *case.argv[1:]]

    ran = keras_ct(argv, clean_environ)

    assert ran.code == 2, ran.out + ran.err
    lines = ran.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-ct: error: "), ran.err
    for part in case.says:
        assert part in lines[0], lines[0]
    assert "Traceback" not in ran.out + ran.err
    assert not (repo / "STARTED").exists(), "a training process started"
    assert (repo / case.kept).read_bytes() == kept


def test_output_dir_with_user_files_is_used_and_its_files_kept(
    repo: Path, clean_environ: dict[str, str]
) -> None:
    """output-dir ml_task (the user's folder): keras-ct makes its own round-1 there, twice; model.py is kept."""
    model = (repo / "ml_task" / "model.py").read_bytes()
    argv = ["run", "--working-directory", str(repo), "--output-dir", "ml_task"]
    for _ in range(2):
        ran = keras_ct(argv, clean_environ, command=PASSES)
        assert ran.code == 0, ran.out + ran.err
    assert (repo / "ml_task" / "model.py").read_bytes() == model
    assert (repo / "ml_task" / "round-1" / preflight.MARKER).is_file()
    assert not (repo / "ml_task" / preflight.MARKER).exists()  # the user's folder stays the user's


def test_rerunning_over_keras_cts_own_report_and_metrics_file_works(
    repo: Path, clean_environ: dict[str, str]
) -> None:
    """`loop --report r.md --metrics-file m.json` twice: the second run replaces what the first wrote."""
    argv = ["loop", "--working-directory", str(repo), "--report", "r.md", "--metrics-file", "m.json"]
    first = keras_ct(argv, clean_environ, command=PASSES)
    assert first.code == 0, first.out + first.err
    report = (repo / "r.md").read_text()
    assert report.startswith(preflight.REPORT_MARKER + "\n") and "Threshold met" in report
    (repo / "r.md").write_text(report.replace("Threshold met", "stale"))

    second = keras_ct(argv, clean_environ, command=PASSES)

    assert second.code == 0, second.out + second.err
    assert "Threshold met" in (repo / "r.md").read_text()
    assert (repo / "keep.txt").read_bytes() == KEEP


def test_a_checkpoint_dir_an_earlier_keras_ct_left_is_taken_as_its_own(
    repo: Path, clean_environ: dict[str, str]
) -> None:
    """A checkpoint-dir from before the marker (an Actions cache, a runner's disk) is keras-ct's by its
    content: resume folders and warm-start models only. It gets the marker and the round runs."""
    resume = repo.parent / "ckpt" / "round-1" / "0123456789abcdef"
    resume.mkdir(parents=True)
    (resume / "epochs.json").write_text("[]")
    (repo.parent / "ckpt" / "models").mkdir()
    (repo.parent / "ckpt" / "models" / "round-1.keras").write_bytes(b"a model")
    argv = ["run", "--working-directory", str(repo), "--checkpoint-dir", str(repo.parent / "ckpt")]

    ran = keras_ct(argv, clean_environ, command=PASSES)

    assert ran.code == 0, ran.out + ran.err
    assert (repo.parent / "ckpt" / preflight.MARKER).is_file()


def test_forget_metrics_never_deletes_a_file_preflight_did_not_clear(
    repo: Path, clean_environ: dict[str, str]
) -> None:
    cfg = load_config({"metrics-file": "keep.txt"}, clean_environ, cwd=repo)
    with pytest.raises(preflight.PreflightError, match=r"keep\.txt exists and keras-ct did not write it"):
        forget_metrics(cfg, 1)
    assert (repo / "keep.txt").read_bytes() == KEEP


# -- under Actions: the pull request run -----------------------------------------------------------


def test_missing_token_on_a_pull_request_is_refused_before_training(world: World) -> None:
    (world.work / "STARTED").unlink(missing_ok=True)
    result = run_cli(world.env({"github-token": "", "train-command": STARTS}))

    assert result.code == 2, result.out[-3000:]
    message = result.one_error().message
    assert "github-token is empty, but this pull_request run would commit, push and dispatch" in message
    assert not (world.work / "STARTED").exists(), "a training process started"
    assert world.fake.exchanges == []


def test_a_fork_pull_request_without_a_token_is_not_refused(world: World) -> None:
    """A fork's run writes nothing anyway: no token is needed, so preflight lets it train."""
    env = world.env({"github-token": "", "commit": "false", "push": "false", "dispatch": "false"})
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(pr_event(world.checkout, fork="someone/ml-repo")))
    cfg = load_config({}, env)
    preflight.check_run(cfg)  # no PreflightError
    cfg_writes = load_config({}, {**env, "INPUT_COMMIT": "true"})
    preflight.check_run(cfg_writes)


def test_dirty_tree_on_a_pull_request_is_refused_before_training(world: World) -> None:
    model = world.work / "ml_task" / "model.py"
    model.write_text(model.read_text() + "# not committed\n")
    edited = model.read_bytes()
    head = world.checkout.head()
    (world.work / "STARTED").unlink(missing_ok=True)

    result = run_cli(world.env({"train-command": STARTS}))

    assert result.code == 2, result.out[-3000:]
    message = result.one_error().message
    assert message.startswith("commit is on, but the working tree in ")
    assert "uncommitted changes (ml_task/model.py)" in message
    assert not (world.work / "STARTED").exists(), "a training process started"
    assert model.read_bytes() == edited
    # Refused before any round: a failure status on the commit under test, no comment, no push.
    assert [(sha, state) for sha, state, _ in world.statuses()] == [(head, "failure")]
    assert world.statuses()[0][2].startswith("refused before training: commit is on, but the working tree")
    assert world.repo.comments == [] and world.repo.dispatches == []
