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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from keras_ct.augment.edit import MODEL_CHANGES, Edit, plan_edit
from keras_ct.augment.epochs import command_epochs, plan_epochs_edit
from keras_ct.augment.policy import CHANGES, POLICIES, Decision, decide
from keras_ct.augment.validate import (
    BuildRequest,
    BuildResult,
    LayerInfo,
    ScriptRunner,
    validate_build,
    validate_builds,
)
from keras_ct.errors import AugmentError, ConfigError
from keras_ct.python_source import SourceEncodingError, decode_source, encode_source, has_bom
from keras_ct.round.history import RoundRecord

CHANGE_CHOICES = ("auto", *CHANGES)

__all__ = [
    "CHANGES",
    "CHANGE_CHOICES",
    "POLICIES",
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
    "validate_build",
    "validate_builds",
]


@dataclass(frozen=True)
class AugmentResult:
    """What ``augment`` did: the change, why, the unified diff and the parameter counts.

    ``path`` is the file that changed: the model file, or the training script / ``.keras-ct.yml`` for
    ``epochs``. ``tried`` lists the candidates ranked before the chosen one and why each was discarded.
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


@dataclass(frozen=True)
class _Candidate:
    decision: Decision
    edit: Edit
    file: Path


def augment(
    path: Path,
    *,
    change: str = "auto",
    history: Sequence[RoundRecord] = (),
    policy: str = "diagnose",
    model_function: str = "build_model",
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
) -> AugmentResult:
    """Change the model (or the epochs) and write the first candidate that builds, unless ``dry_run``.

    ``change`` is ``auto`` (ask ``policy`` with ``history``) or one of ``CHANGES``. ``epochs`` edits
    ``config_file``'s train-command when ``train_command`` passes ``--epochs`` and comes from there,
    else ``train_script``. Raises ``AugmentError`` (file untouched) when nothing can be changed safely.
    ``env``: the build check's environment (``keras_ct.train.childenv.child_env``; it runs the model's code).
    """
    if change not in CHANGE_CHOICES:
        raise ConfigError(f"change must be one of {', '.join(CHANGE_CHOICES)}, got {change!r}")
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    shown = _shown(path, cwd)
    source = _read(path, "model file")
    if change == "auto":
        available = [*MODEL_CHANGES, *(["epochs"] if train_script or config_file else [])]
        decisions = decide(history, policy=policy, available=available)
        if not decisions:
            last = history[-1] if history else None
            state = (
                f"round {last.round} met the threshold"
                if last and last.accuracy is not None
                else "the last round failed"
            )
            raise AugmentError(f"nothing to augment in {shown}: {state}", file=shown)
    else:
        decisions = (Decision(change, f"{change} requested"),)

    planned: list[tuple[Decision, _Candidate | None, str]] = []
    errors: list[AugmentError] = []
    for decision in decisions:
        try:
            if decision.change == "epochs":
                file = _epochs_file(train_script, config_file, train_command)
                edit = plan_epochs_edit(_read(file, "training file"), path=_shown(file, cwd))
            else:
                file = path
                edit = plan_edit(
                    source,
                    decision.change,
                    model_function=model_function,
                    path=shown,
                    input_shape=input_shape,
                )
            planned.append((decision, _Candidate(decision, edit, file), ""))
        except AugmentError as exc:
            planned.append((decision, None, str(exc)))
            errors.append(exc)
    candidates = [c for _, c, _ in planned if c is not None]
    if not candidates:
        if len({str(e) for e in errors}) == 1:
            raise errors[0]  # the model itself cannot be read (syntax, no function, no model...): say it once
        raise _nothing_builds(shown, [(d.change, error) for d, _, error in planned])

    model_candidates = [c for c in candidates if c.edit.change != "epochs"]
    requests = [BuildRequest(path, source, model_function, input_shape, label="current model", shown=shown)]
    requests += [
        BuildRequest(path, c.edit.new_source, model_function, input_shape, label=c.edit.change, shown=shown)
        for c in model_candidates
    ]
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

    tried: list[tuple[str, str]] = []
    for decision, candidate, error in planned:
        if candidate is None:
            tried.append((decision.change, error))
            continue
        result = built.get(id(candidate), before)
        if not result.ok:
            tried.append((decision.change, f"the edited model does not build: {result.error}"))
            continue
        return _finish(candidate, result, before, tried, cwd, dry_run)
    raise _nothing_builds(shown, tried)


def _finish(
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
        rationale=candidate.decision.rationale(edit.action),
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


def _read(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
        return decode_source(data) if _is_python(path) else data.decode("utf-8")
    except FileNotFoundError:
        raise AugmentError(f"{what} {path} not found", file=path) from None
    except (OSError, UnicodeDecodeError, SourceEncodingError) as exc:
        raise AugmentError(f"cannot read {what} {path}: {exc}", file=path) from None


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
