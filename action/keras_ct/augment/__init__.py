"""Model augmentation: pick a change, edit the code structurally, prove it builds, then write it.

``augment`` is the one entry point for ``keras-ct augment`` and the loop. It asks the policy for
ordered candidates (or takes the requested change), plans each edit with libcst, builds the current
model and every planned candidate in **one** subprocess of the model's Python, and writes the first
candidate that builds. On any error the file is left untouched. TensorFlow is never imported here.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from keras_ct.augment.edit import MODEL_CHANGES, Edit, plan_edit
from keras_ct.augment.epochs import command_epochs, plan_epochs_edit
from keras_ct.augment.lr_schedule import plan_lr_schedule_edit
from keras_ct.augment.policy import CHANGES, Decision, decide
from keras_ct.augment.validate import (
    BuildRequest,
    BuildResult,
    LayerInfo,
    ScriptRunner,
    validate_build,
    validate_builds,
)
from keras_ct.config import DEFAULT_MODEL_FUNCTION, POLICIES
from keras_ct.errors import AugmentError, ConfigError
from keras_ct.python_source import SourceEncodingError, decode_source, encode_source, has_bom
from keras_ct.round.history import RoundRecord

CHANGE_CHOICES = ("auto", *CHANGES)
#: The changes that edit the training set-up, not the model (nothing to build): name -> planner.
SCRIPT_CHANGES: dict[str, Callable[..., Edit]] = {
    "epochs": plan_epochs_edit,
    "lr-schedule": plan_lr_schedule_edit,
}

__all__ = [
    "CHANGES",
    "CHANGE_CHOICES",
    "POLICIES",
    "SCRIPT_CHANGES",
    "AugmentResult",
    "BuildRequest",
    "BuildResult",
    "Decision",
    "Edit",
    "augment",
    "command_epochs",
    "decide",
    "plan_edit",
    "plan_epochs_edit",
    "plan_lr_schedule_edit",
    "validate_build",
    "validate_builds",
]


@dataclass(frozen=True)
class AugmentResult:
    """What ``augment`` did: the change, why, the unified diff and the parameter counts.

    ``path`` is the file that changed: the model file, or the training script / ``.keras-ct.yml`` for
    ``epochs`` (the training script for ``lr-schedule``). ``tried`` lists the candidates ranked before the chosen one and why each was discarded.
    """

    path: Path
    change: str
    rationale: str
    description: str
    diff: str
    params_before: int | None
    params_after: int | None
    tried: tuple[tuple[str, str], ...]
    written: bool
    layers: tuple[LayerInfo, ...] = ()
    #: With ``candidates`` above 1 (``keras_ct.round.trials``): every candidate trained, (change, accuracy).
    candidates: tuple[tuple[str, float | None], ...] = ()


@dataclass(frozen=True)
class _Candidate:
    """A decision's planned edit and the file it rewrites (the decision travels beside it, in ``planned``)."""

    edit: Edit
    file: Path


@dataclass(frozen=True)
class _ModelFile:
    """The model file being augmented: its text, how messages name it, the function and input shape."""

    path: Path
    source: str
    shown: str
    function: str
    input_shape: tuple[int, ...] | None

    def request(self, source: str, label: str) -> BuildRequest:
        return BuildRequest(self.path, source, self.function, self.input_shape, label=label, shown=self.shown)


def augment(
    path: Path,
    *,
    change: str = "auto",
    history: Sequence[RoundRecord] = (),
    policy: str = "diagnose",
    model_function: str = DEFAULT_MODEL_FUNCTION,
    python: str = sys.executable,
    input_shape: tuple[int, ...] | None = None,
    train_script: Path | None = None,
    config_file: Path | None = None,
    train_command: str | None = None,
    dry_run: bool = False,
    cwd: Path | None = None,
    timeout_s: float = 300,
    run_script: ScriptRunner | None = None,
    env: Mapping[str, str] | None = None,
    diagnosis: str = "",
) -> AugmentResult:
    """Change the model (or the training set-up: epochs, lr-schedule) and write the first candidate that builds, unless ``dry_run``.

    ``change`` is ``auto`` (ask ``policy`` with ``history``) or one of ``CHANGES``. ``epochs`` edits
    ``config_file``'s train-command when ``train_command`` passes ``--epochs`` and comes from there,
    else ``train_script``; ``lr-schedule`` edits ``train_script``'s fit calls. Raises ``AugmentError``
    (file untouched) when nothing can be changed safely. ``env``: the build check's environment
    (``keras_ct.train.childenv.repository_env``; it runs the model's code). ``diagnosis``: why a named
    ``change`` is made (the policy's, when it chose it), else "requested".
    """
    if change not in CHANGE_CHOICES:
        raise ConfigError(f"change must be one of {', '.join(CHANGE_CHOICES)}, got {change!r}")
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    shown = _shown(path, cwd)
    model = _ModelFile(path, _read(path, "model file", shown), shown, model_function, input_shape)
    scripts = _script_files(train_script, config_file, train_command)
    offered = _offered(train_script, config_file)
    decisions = _decisions(change, history, policy, shown, scripts=offered, diagnosis=diagnosis)
    planned = [(decision, _plan(decision, model, scripts, cwd)) for decision in decisions]
    candidates = [c for _, c in planned if isinstance(c, _Candidate)]
    if not candidates:
        errors = [c for _, c in planned if isinstance(c, AugmentError)]
        if len({str(e) for e in errors}) == 1:
            raise errors[0]  # the model itself cannot be read (syntax, no function, no model...): say it once
        raise _nothing_builds(shown, [(d.change, str(c)) for d, c in planned])

    model_candidates = [c for c in candidates if c.edit.change not in SCRIPT_CHANGES]
    requests = [model.request(model.source, "current model")]
    requests += [model.request(c.edit.new_source, c.edit.change) for c in model_candidates]
    results = validate_builds(
        requests, python=python, cwd=cwd, timeout_s=timeout_s, run_script=run_script, env=env
    )
    before = results[0]
    if not before.ok:
        raise AugmentError(
            f"{shown}: the current model does not build ({before.error}); fix it before augmenting",
            file=shown,
        )
    built = dict(zip((id(c) for c in model_candidates), results[1:], strict=True))
    return _first_that_builds(planned, built, before, shown, cwd, dry_run)


def _first_that_builds(
    planned: Sequence[tuple[Decision, _Candidate | AugmentError]],
    built: Mapping[int, BuildResult],
    before: BuildResult,
    shown: str,
    cwd: Path | None,
    dry_run: bool,
) -> AugmentResult:
    """Write the first candidate, in the policy's order, that was planned and builds (a change of the
    training set-up always builds: the model is unchanged); else say why each one was discarded."""
    tried: list[tuple[str, str]] = []
    for decision, candidate in planned:
        if isinstance(candidate, AugmentError):
            tried.append((decision.change, str(candidate)))
            continue
        result = built.get(id(candidate), before)
        if not result.ok:
            tried.append((decision.change, f"the edited model does not build: {result.error}"))
            continue
        return _finish(decision, candidate, result, before, tried, cwd, dry_run)
    raise _nothing_builds(shown, tried)


def _decisions(
    change: str,
    history: Sequence[RoundRecord],
    policy: str,
    shown: str,
    *,
    scripts: Sequence[str],
    diagnosis: str = "",
) -> tuple[Decision, ...]:
    """The changes to try, in order: the policy's for ``auto`` (the ``scripts`` changes: those with a
    file to edit)."""
    if change != "auto":
        return (Decision(change, diagnosis or f"{change} requested"),)
    available = [*MODEL_CHANGES, *scripts]
    decisions = decide(history, policy=policy, available=available)
    if not decisions:
        last = history[-1] if history else None
        state = (
            f"round {last.round} met the threshold"
            if last and last.accuracy is not None
            else "the last round failed"
        )
        raise AugmentError(f"nothing to augment in {shown}: {state}", file=shown)
    return decisions


def _plan(
    decision: Decision, model: _ModelFile, scripts: Mapping[str, Callable[[], Path]], cwd: Path | None
) -> _Candidate | AugmentError:
    """The planned edit for one decision, or why it cannot be made."""
    try:
        if decision.change in SCRIPT_CHANGES:
            file = scripts[decision.change]()
            edit = SCRIPT_CHANGES[decision.change](_read(file, "training file"), path=_shown(file, cwd))
        else:
            file = model.path
            edit = plan_edit(
                model.source,
                decision.change,
                model_function=model.function,
                path=model.shown,
                input_shape=model.input_shape,
            )
    except AugmentError as exc:
        return exc
    return _Candidate(edit, file)


def _finish(
    decision: Decision,
    candidate: _Candidate,
    result: BuildResult,
    before: BuildResult,
    tried: list[tuple[str, str]],
    cwd: Path | None,
    dry_run: bool,
) -> AugmentResult:
    edit = candidate.edit
    old = _read(candidate.file, "file")
    shown = _shown(candidate.file, cwd)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            edit.new_source.splitlines(keepends=True),
            f"a/{shown}",
            f"b/{shown}",
        )
    )
    if not dry_run:
        _write(candidate.file, edit.new_source)
    return AugmentResult(
        path=candidate.file,
        change=edit.change,
        rationale=decision.rationale(edit.action),
        description=edit.description,
        diff=diff,
        params_before=before.params,
        params_after=result.params,
        tried=tuple(tried),
        written=not dry_run,
        layers=result.layers,
    )


def _nothing_builds(shown: str, tried: list[tuple[str, str]]) -> AugmentError:
    """One line listing each candidate and why it was discarded (candidates with the same reason grouped)."""
    reasons: dict[str, list[str]] = {}
    for change, reason in tried:
        reasons.setdefault(reason, []).append(change)
    listed = "; ".join(f"{', '.join(changes)}: {reason}" for reason, changes in reasons.items())
    return AugmentError(f"no change to {shown} could be made; tried {listed}", file=shown)


def _offered(train_script: Path | None, config_file: Path | None) -> tuple[str, ...]:
    """The training-set-up changes with a file to edit: epochs (script or config), lr-schedule (script)."""
    return (
        *(("epochs",) if train_script or config_file else ()),
        *(("lr-schedule",) if train_script else ()),
    )


def _script_files(
    train_script: Path | None, config_file: Path | None, train_command: str | None
) -> dict[str, Callable[[], Path]]:
    """For each training-set-up change, the file it edits (asked for only when it is planned)."""
    return {
        "epochs": partial(_epochs_file, train_script, config_file, train_command),
        "lr-schedule": partial(_train_script, train_script),
    }


def _train_script(train_script: Path | None) -> Path:
    if train_script is None:
        raise AugmentError("lr-schedule needs the training script (train_script) to add callbacks to its fit")
    return train_script


def _epochs_file(train_script: Path | None, config_file: Path | None, train_command: str | None) -> Path:
    passed = command_epochs(train_command) if train_command else None
    if config_file is not None and config_file.exists():
        text = _read(config_file, "config file")
        if passed is not None and train_command is not None and train_command.strip() in text:
            return config_file
    if passed is not None:
        raise AugmentError(
            f"the train command passes --epochs {passed} itself (`{train_command}`): raise it where the "
            "command "
            "is configured, or drop --epochs there so keras-ct can raise the training script's default"
        )
    if train_script is None:
        raise AugmentError("epochs needs the training script (train_script) to raise its epochs setting")
    return train_script


def _shown(path: Path, cwd: Path | None) -> str:
    base = (cwd or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


def _is_python(path: Path) -> bool:
    """Python files (the model, the training script) keep their declared encoding; YAML is UTF-8."""
    return path.suffix not in (".yml", ".yaml")


def _read(path: Path, what: str, shown: str = "") -> str:
    """The file's text; messages name it ``shown`` (as given on the command line), else ``path``."""
    name = shown or str(path)
    try:
        data = path.read_bytes()
        return decode_source(data) if _is_python(path) else data.decode("utf-8")
    except FileNotFoundError:
        raise AugmentError(f"{what} {name} not found", file=name) from None
    except (OSError, UnicodeDecodeError, SourceEncodingError) as exc:
        raise AugmentError(f"cannot read {what} {name}: {exc}", file=name) from None


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its permissions (a crash never leaves half a model file)
    and its encoding: the one its coding line declares, and the UTF-8 BOM when it had one."""
    try:
        mode = path.stat().st_mode
        data = encode_source(text, bom=has_bom(path.read_bytes())) if _is_python(path) else text.encode()
    except (OSError, SourceEncodingError) as exc:
        raise AugmentError(f"cannot write the change to {path}: {exc}", file=path) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".keras-ct", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
