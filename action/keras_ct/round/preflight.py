"""Preflight: every check that can refuse a round without training, run before any training starts.

``keras-ct run`` runs it before it starts the training (``cli._run``; ``orchestrate.run_action`` when
called without an early start), ``keras-ct loop`` before the engine (``orchestrate.run_loop``). A
refusal is a ``PreflightError``: exit 2, one line that names the input, the path and the fix, and no
training process was started. It checks:

- the output paths (metrics file, report, output-dir, checkpoint-dir, the warm-start store): keras-ct
  never deletes or overwrites a file it did not create;
- the model file resolves inside the repository (or the working directory outside git);
- when the run commits: a git repository, no uncommitted changes, a tracked model file;
- every folder keras-ct writes in is writable (a file is created there, then removed);
- under Actions, a pull request run that would commit, push or dispatch has a token.

The model file's content (it parses, defines the model function) is checked by
``launch.check_model_file`` right after, also before any training: its error is the round's failure,
reported on the pull request like a failed training.

How keras-ct knows a file is its own. Nothing is remembered between runs: a rerun sees what the last
one left and accepts it.

- A folder keras-ct creates gets a marker file, ``.keras-ct-owned``; everything inside a marked
  folder is keras-ct's. A folder named ``.keras-ct`` (the default output-dir) is keras-ct's by its
  name, and so is an existing folder that is empty or holds only what keras-ct writes, as versions
  before the marker left it (an Actions cache of checkpoint-dir): ``round-N``, ``checkpoints``,
  ``models`` and resume folders, ``train.log``, ``model.keras``, ``round-N.keras``, and a metrics file
  and a report by their content. Such a folder gets the marker.
- Any other existing folder (``output-dir: ml_task``) is the user's: keras-ct only creates its own
  sub-folders there (``round-1``...), and refuses one that exists without the marker.
- A Markdown report keras-ct writes starts with ``<!-- keras-ct:report -->``, so ``loop --report
  r.md`` can be run again.
- A metrics file outside a marked folder is keras-ct's when it is a metrics document (a JSON object
  with ``schema_version``): what a training wrote there on an earlier run.
- Whatever the rules above say, a file git tracks, the model file, the config file and the files
  the train command names are never keras-ct's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from keras_ct.config import Config
from keras_ct.errors import ConfigError, GitError
from keras_ct.github.event import pull_request_facts

if TYPE_CHECKING:
    from keras_ct.github.publish import Overrides

MARKER = ".keras-ct-owned"
MARKER_TEXT = "keras-ct created this folder: it may overwrite or delete anything in it.\n"
#: The first line of every report file keras-ct writes.
REPORT_MARKER = "<!-- keras-ct:report -->"
#: The default output-dir's name: a folder of this name is keras-ct's.
OWN_FOLDER = ".keras-ct"
#: What keras-ct itself leaves in an output-dir or checkpoint-dir.
_OWN_FOLDERS = re.compile(r"round-\d+|checkpoints|models")
_OWN_MODEL = re.compile(r"round-\d+\.keras")  # the warm-start store's models
_RESUME_FOLDER = re.compile(r"[0-9a-f]{16}")  # launch.resume_dir
#: A report's first line before the marker (report.render_report).
_REPORT_HEADING = "## keras-ct:"
_GIT_TIMEOUT_S = 30


class PreflightError(ConfigError):
    """The round was refused before it trained: an output path, the git tree, the token (exit 2)."""


def report_path(cfg: Config, report: Path | None) -> Path:
    """Where ``keras-ct loop`` writes its report: ``--report`` (from the current directory) or in output-dir."""
    return report if report is not None else cfg.out_dir / "report.md"


def check_run(cfg: Config, overrides: Overrides | None = None) -> None:
    """Preflight of ``keras-ct run``: the job's rounds, the pull request it reports to."""
    from keras_ct.github.publish import resolve_target

    target = resolve_target(cfg, overrides)
    gh = cfg.github
    if (
        target is not None
        and not target.fork
        and gh.actions
        and pull_request_facts(gh.event_name, gh.event) is not None
        and not cfg.github_token
        and (cfg.commit or cfg.push or cfg.dispatch)
    ):
        raise PreflightError(
            f"{cfg.describe('github-token')} is empty, but this {gh.event_name} run would commit, push and "
            "dispatch the next round: pass the workflow's token (`github-token: ${{ github.token }}`, the "
            "default) with `permissions: {contents: write, pull-requests: write, statuses: write, "
            "actions: write}` on the job, or set commit, push and dispatch to false"
        )
    # As orchestrate wires it: git commits only for a writable publisher (a token, not a fork, a PR).
    commits = (
        target is not None
        and not target.fork
        and target.pr_number is not None
        and cfg.commit
        and bool(cfg.github_token)
    )
    check(cfg, rounds=range(cfg.round, cfg.last_round(local=False) + 1), commits=commits)


def check_loop(cfg: Config, *, report: Path | None = None) -> None:
    """Preflight of ``keras-ct loop``: every round up to max-rounds, the report file."""
    check(
        cfg,
        rounds=range(cfg.round, cfg.last_round(local=True) + 1),
        commits=cfg.commit,
        report=report_path(cfg, report),
    )


def check(cfg: Config, *, rounds: Sequence[int], commits: bool, report: Path | None = None) -> None:
    """Refuse the round now if it could only fail, or harm a user's file, after training."""
    root = _git_root(cfg.working_directory)
    with _from_input(cfg, "model-file"):
        _check_model_location(cfg, root)
    if commits:
        with _from_input(cfg, "commit"):
            _check_git(cfg)
    written = _check_folders(cfg, rounds)  # (path keras-ct writes, input label, input name)
    protected = _protected(cfg)
    with _from_input(cfg, "metrics-file"):
        for number in rounds:
            metrics = cfg.metrics_path(number)
            label = f"{cfg.describe('metrics-file')} {cfg.metrics_file or metrics}"
            _check_file(metrics, label, "metrics-file", protected, _is_metrics_document)
            written.append((metrics, label, "metrics-file"))
            if cfg.metrics_file is not None:
                break  # the same file every round
    if report is not None:
        shown = f"--report {report}"
        _check_file(report.absolute(), shown, "--report", protected, _is_report)
        written.append((report.absolute(), shown, "--report"))
    if root is not None:
        _check_untracked(root, written)


def _check_folders(cfg: Config, rounds: Sequence[int]) -> list[tuple[Path, str, str]]:
    """output-dir, checkpoint-dir and the folders keras-ct makes in them; returns what it writes there."""
    out_label = f"{cfg.describe('output-dir')} {cfg.output_dir or cfg.out_dir}"
    with _from_input(cfg, "output-dir"):
        out_owned = _claim(cfg.out_dir, out_label, "output-dir", shared=True)
        for number in rounds:
            _claim_inside(cfg.round_dir(number), out_owned, out_label, "output-dir")
    written = [(cfg.round_dir(number), out_label, "output-dir") for number in rounds]
    base = cfg.checkpoint_path().parent
    if cfg.checkpoint_dir is None:  # a sub-folder of output-dir, keras-ct's own even in a user's output-dir
        label, name = out_label, "output-dir"
    else:
        label, name = f"{cfg.describe('checkpoint-dir')} {cfg.checkpoint_dir}", "checkpoint-dir"
    store = base / "models"  # launch.warm_start_store
    with _from_input(cfg, name):
        if cfg.checkpoint_dir is None:
            _claim_inside(base, out_owned, label, name)
            owned = True
        else:
            owned = _claim(base, label, name, shared=True)
        for folder in (*(cfg.checkpoint_path(number) for number in rounds), store):
            _claim_inside(folder, owned, label, name)
            written.append((folder, label, name))
    return written


@contextmanager
def _from_input(cfg: Config, name: str) -> Iterator[None]:
    """A refusal about input ``name`` points at the config file line it came from, when it did."""
    try:
        yield
    except PreflightError as exc:
        source = cfg.sources.get(name)
        if exc.file is None and source is not None and source.file:
            exc.file, exc.line = source.file, source.line
        raise


# -- ownership ------------------------------------------------------------------------------------


def is_owned(path: Path) -> bool:
    """Whether ``path`` is in a folder keras-ct created (it, or a folder above it, holds the marker)."""
    real = Path(os.path.realpath(path))
    return any((folder / MARKER).is_file() for folder in (real, *real.parents))


def may_delete_metrics(path: Path) -> bool:
    """Whether keras-ct may delete the existing metrics file ``path``: the rule preflight cleared it by
    (without the git check, which preflight made)."""
    return not path.is_symlink() and (is_owned(path.parent) or _is_metrics_document(path))


def _is_metrics_document(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(10_000_001))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "schema_version" in data


def _is_report(path: Path) -> bool:
    return _starts_with(path, REPORT_MARKER)


def _starts_with(path: Path, text: str) -> bool:
    head = text.encode()
    try:
        with path.open("rb") as handle:
            return handle.read(len(head)) == head
    except OSError:
        return False


def _mark(folder: Path, label: str, name: str) -> None:
    try:
        with (folder / MARKER).open("x", encoding="utf-8") as handle:
            handle.write(MARKER_TEXT)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _unwritable(folder, label, name, exc) from None


def _make(folder: Path, label: str, name: str) -> None:
    """Create ``folder`` (and the folders above it that are missing); the topmost new one gets the marker."""
    top = folder
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise PreflightError(
            f"{label}: cannot create the folder {folder} ({exc.strerror}); give a path where keras-ct can "
            f"create folders for {name}"
        ) from None
    if not is_owned(top.parent):
        _mark(top, label, name)


def _adoptable(folder: Path) -> bool:
    """An existing folder with no user file in it: empty, named ``.keras-ct``, or as keras-ct left it."""
    return folder.name == OWN_FOLDER or _left_by_keras_ct(folder)


def _left_by_keras_ct(folder: Path, depth: int = 0) -> bool:
    """Whether every entry of ``folder`` is one keras-ct writes (as versions before the marker left them):
    ``round-N``/``checkpoints``/``models`` folders of such entries, resume folders, ``train.log``,
    ``model.keras``, ``round-N.keras``, and a metrics file or report by their content."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    for entry in entries:
        name = entry.name
        if entry.is_symlink():
            return False
        if entry.is_dir():
            if depth > 0 and _RESUME_FOLDER.fullmatch(name):
                continue  # launch.resume_dir: Keras' BackupAndRestore files
            if not (_OWN_FOLDERS.fullmatch(name) and depth < 3 and _left_by_keras_ct(entry, depth + 1)):
                return False
        elif not (
            name in ("train.log", "model.keras", MARKER)
            or _OWN_MODEL.fullmatch(name)
            or (name == "metrics.json" and _is_metrics_document(entry))
            or (name == "report.md" and _starts_with(entry, _REPORT_HEADING))
        ):
            return False
    return True


def _claim(folder: Path, label: str, name: str, *, shared: bool) -> bool:
    """Make ``folder`` one keras-ct may write in; True when it is keras-ct's (marked).

    ``shared``: an existing folder of the user's (output-dir, checkpoint-dir) is allowed, unmarked;
    keras-ct then only creates its own sub-folders in it.
    """
    if folder.exists() and not folder.is_dir():
        raise PreflightError(
            f"{label} is a file, not a folder; give a folder for {name} (keras-ct creates it) or leave "
            f"{name} unset"
        )
    if not folder.exists():
        _make(folder, label, name)
        return True
    _probe(folder, label, name)
    if is_owned(folder):
        return True
    if _adoptable(folder):
        _mark(folder, label, name)
        return True
    if shared:
        return False
    raise PreflightError(
        f"{label}: {folder} exists and keras-ct did not create it (it has no {MARKER}); keras-ct writes only "
        f"in folders it created. Move {folder} away, or choose another {name}"
    )


def _claim_inside(folder: Path, parent_owned: bool, label: str, name: str) -> None:
    """A sub-folder keras-ct writes (``round-1``...): fine in its own folder; else created by it, or refused."""
    if parent_owned and not folder.is_symlink() and (folder.is_dir() or not folder.exists()):
        return
    _claim(folder, label, name, shared=False)


def _probe(folder: Path, label: str, name: str) -> None:
    """Create a file in ``folder`` and remove it: the only sure test that keras-ct can write there."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".keras-ct-probe-", dir=folder)
    except OSError as exc:
        raise _unwritable(folder, label, name, exc) from None
    os.close(fd)
    os.unlink(probe)


def _unwritable(folder: Path, label: str, name: str, exc: OSError) -> PreflightError:
    return PreflightError(
        f"{label}: keras-ct cannot create files in {folder} ({exc.strerror}); make it writable, or "
        f"choose another {name}"
    )


# -- files keras-ct replaces ----------------------------------------------------------------------


def _protected(cfg: Config) -> dict[Path, str]:
    """The user's files that no output path may name, resolved, with what they are (for messages)."""
    named = [(cfg.model_path, f"the model-file {cfg.model_file}")]
    named += [(path, f"{path.name}, a file the train command reads") for path in cfg.command_files()]
    script = cfg.train_script()
    if script is not None:
        named.append((script, f"the training script {script.name}"))
    if cfg.config_file is not None:
        named.append((cfg.config_file, f"the config file {cfg.config_file.name}"))
    return {Path(os.path.realpath(path)): what for path, what in reversed(named)}


def _check_file(
    path: Path, label: str, name: str, protected: dict[Path, str], own: Callable[[Path], bool]
) -> None:
    """``path`` is a file keras-ct (or its training) replaces: refuse it unless it is keras-ct's."""
    fix = f"give a path that does not exist yet, or leave {name} unset"
    if path.is_symlink():
        raise PreflightError(
            f"{label} is a symbolic link (to {os.readlink(path)}); keras-ct writes only files it creates: {fix}"
        )
    if path.is_dir():
        raise PreflightError(f"{label} is a folder; {name} must be the path of a file: {fix}")
    what = protected.get(Path(os.path.realpath(path)))
    if what is not None:
        raise PreflightError(f"{label} is {what}; keras-ct would overwrite it: {fix}")
    parent = path.parent
    if path.exists() and not (is_owned(parent) or own(path)):
        raise PreflightError(
            f"{label} exists and keras-ct did not write it; keras-ct replaces {name} on every run, so it "
            f"refuses to: {fix}"
        )
    if not parent.exists():
        if not is_owned(parent):  # in keras-ct's own folder it is made when needed
            _make(parent, label, name)
    elif not parent.is_dir():
        raise PreflightError(f"{label}: {parent} is a file, not a folder: {fix}")
    else:
        _probe(parent, label, name)


# -- git ------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=_GIT_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _git_root(workdir: Path) -> Path | None:
    """The top level of the git repository holding ``workdir``; None outside git (or without git)."""
    done = _git(workdir, "rev-parse", "--show-toplevel")
    if done is None or done.returncode != 0 or not done.stdout.strip():
        return None
    return Path(os.path.realpath(done.stdout.strip()))


def _check_model_location(cfg: Config, root: Path | None) -> None:
    path = cfg.model_path
    if not (path.exists() or path.is_symlink()):
        return  # missing: check_model_file says so
    base = root or Path(os.path.realpath(cfg.working_directory))
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(base):
        where = "the repository" if root is not None else "the working directory"
        link = " (through a symbolic link)" if path.is_symlink() else ""
        raise PreflightError(
            f"{cfg.describe('model-file')} {cfg.model_file} resolves to {real}{link}, outside {where} "
            f"{base}; keras-ct edits the model file and commits it, so it must be a file of {where}: "
            "copy it in, or set working-directory to where it is"
        )


def _check_git(cfg: Config) -> None:
    """A commit after training needs a repository, a clean tree and a tracked model file: check them now."""
    from keras_ct import git as gitops

    label = cfg.describe("commit")
    try:
        repo = gitops.open_repo(cfg.working_directory)
        repo.ensure_clean([cfg.model_path] if cfg.model_path.is_file() else [])
    except GitError as exc:
        raise PreflightError(f"{label} is on, but {exc.message}") from None


def _check_untracked(root: Path, written: list[tuple[Path, str, str]]) -> None:
    """No path keras-ct writes (or a file inside one) is tracked by git."""
    inside: list[tuple[str, str, str]] = []
    for path, label, name in written:
        real = Path(os.path.realpath(path))
        if real.is_relative_to(root):
            inside.append((real.relative_to(root).as_posix(), label, name))
    if not inside:
        return
    done = _git(root, "ls-files", "-z", "--", *dict.fromkeys(rel for rel, _, _ in inside))
    if done is None or done.returncode != 0:
        return
    tracked = [t for t in done.stdout.split("\0") if t]
    for rel, label, name in sorted(inside, key=lambda item: -len(item[0])):  # the file before its folder
        hit = next((t for t in tracked if t == rel or t.startswith(rel.rstrip("/") + "/")), None)
        if hit is not None:
            raise PreflightError(
                f"{label}: git tracks {hit}, which keras-ct would overwrite or delete; choose another "
                f"{name}, or untrack it (`git rm --cached {hit}`)"
            )
