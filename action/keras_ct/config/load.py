"""``load_config``: the one door from flags, action inputs, ``.keras-ct.yml`` and defaults to a ``Config``.

Precedence, highest first:

1. command-line flags (``keras-ct run --threshold 0.9``);
2. action inputs, as the runner passes them (``INPUT_THRESHOLD``; both ``INPUT_MODEL-FILE`` and
   ``INPUT_MODEL_FILE`` spellings). An empty input counts as *not given*: a composite action passes
   ``""`` for inputs the caller left out;
3. ``.keras-ct.yml`` at the root of the working directory;
4. the built-in defaults in ``FIELDS`` (and ``PLAN_FIELDS``).

Every invalid value raises ``ConfigError`` naming the input and where it came from, the bad value
and what is allowed, e.g. ``threshold must be a number between 0 and 1, got "abc"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_ct.config.fields import BY_NAME, FIELDS, PLAN_FIELDS, Source, parse_field
from keras_ct.config.parse import _path
from keras_ct.config.settings import Config, GitHubContext
from keras_ct.config.yaml_file import CONFIG_FILE, Entries, read_config_file
from keras_ct.errors import ConfigError


def _input_value(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The runner's value for input ``name``: ``INPUT_MODEL-FILE`` or ``INPUT_MODEL_FILE``; "" is unset."""
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        value = environ.get(key)
        if value is not None and value.strip() != "":
            return key, value
    return None


def _github_context(environ: Mapping[str, str]) -> GitHubContext:
    event: Mapping[str, Any] = {}
    event_path = environ.get("GITHUB_EVENT_PATH", "")
    if event_path:
        try:
            loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the event payload GITHUB_EVENT_PATH={event_path}: {exc}"
            ) from None
        event = loaded if isinstance(loaded, dict) else {}
    return GitHubContext(
        actions=environ.get("GITHUB_ACTIONS") == "true",
        api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        repository=environ.get("GITHUB_REPOSITORY", ""),
        event_name=environ.get("GITHUB_EVENT_NAME", ""),
        event=event,
        workflow_ref=environ.get("GITHUB_WORKFLOW_REF", ""),
        run_id=environ.get("GITHUB_RUN_ID", ""),
        run_attempt=environ.get("GITHUB_RUN_ATTEMPT", ""),
        sha=environ.get("GITHUB_SHA", ""),
        ref_name=environ.get("GITHUB_REF_NAME", ""),
        head_ref=environ.get("GITHUB_HEAD_REF", ""),
    )


def error_report_context(environ: Mapping[str, str]) -> tuple[GitHubContext, str] | None:
    """The runner's context and the token, read leniently when the configuration itself is invalid.

    Used only to mark the commit failed after a ``ConfigError`` (there is no ``Config`` then). None
    outside Actions, or when the runner's own event payload cannot be read.
    """
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    try:
        context = _github_context(environ)
    except ConfigError:
        return None
    found = _input_value(environ, "github-token")
    token = found[1].strip() if found is not None else environ.get("GITHUB_TOKEN", "").strip()
    return context, token


def _not_a_config_file(path: Path, *, given: bool) -> ConfigError:
    """A ``.keras-ct.yml`` (or ``--config``) that exists but is no file: never ignored, never read."""
    if path.is_dir():
        fix = (
            f"pass the YAML file itself, e.g. --config {path / CONFIG_FILE}"
            if given
            else f"keras-ct reads its settings from the file {CONFIG_FILE}: remove or rename the directory"
        )
        return ConfigError(f"{path} is a directory, not a config file; {fix}", file=str(path))
    if path.is_symlink() and not path.exists():
        return ConfigError(
            f"{path} is a link to {os.readlink(path)}, which does not exist; fix the link or remove it",
            file=str(path),
        )
    return ConfigError(
        f"{path} is not a regular file (a device, a pipe or a socket); make it a YAML file or remove it",
        file=str(path),
    )


def _given(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Entries:
    """The values the command line and the action inputs give (flags first)."""
    raw: Entries = {}
    for spec in (*FIELDS, *PLAN_FIELDS):
        if spec.name in flags:
            raw[spec.name] = (flags[spec.name], Source("flag", f"--{spec.name}"))
        elif (found := _input_value(environ, spec.name)) is not None:
            raw[spec.name] = (found[1], Source("input", f"input {spec.name} ({found[0]})"))
    return raw


def _working_directory(raw: Entries, cwd: Path) -> Path:
    """The working directory, resolved first: it decides where ``.keras-ct.yml`` lives."""
    workdir_raw = raw.get("working-directory", (".", None))[0]
    try:
        workdir = _path(workdir_raw)
    except ValueError as exc:
        raise ConfigError(f"working-directory must be {exc}, got {str(workdir_raw)!r}") from None
    workdir = (cwd / workdir).resolve() if not workdir.is_absolute() else workdir
    if not workdir.is_dir():
        raise ConfigError(
            f'working-directory "{workdir_raw}" is not a directory ({workdir}); give an existing path'
        )
    return workdir


def _from_file(file_path: Path, *, given: bool) -> Entries:
    """The entries of the config file, ``{}`` when there is none (an explicit ``--config`` must exist)."""
    if file_path.is_file():
        return read_config_file(file_path)
    if file_path.exists() or file_path.is_symlink():
        raise _not_a_config_file(file_path, given=given)
    if given:
        raise ConfigError(f"config file {file_path} does not exist", file=str(file_path))
    return {}


def _parse_all(raw: Entries) -> tuple[dict[str, Any], dict[str, Source]]:
    """Every field's typed value (its default where nothing gave one) and where it came from."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for spec in (*FIELDS, *PLAN_FIELDS):
        if spec.name not in raw:
            values[spec.name] = spec.parse(spec.default) if isinstance(spec.default, str) else spec.default
            sources[spec.name] = Source("default", spec.name)
            continue
        value, source = raw[spec.name]
        sources[spec.name] = source
        values[spec.name] = parse_field(spec, value, source)
    return values, sources


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    round_limit: bool = True,
) -> Config:
    """Build the one ``Config``. ``flags`` maps input names to CLI values (``None`` = not given).

    ``round_limit=False`` skips the check of ``round`` against ``max-rounds``: the plan job only
    routes the round; the training job judges it (and reports an ended loop on the commit).
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = dict(environ if environ is not None else {})
    unknown = sorted(set(flags) - set(BY_NAME))
    if unknown:  # a programming error in a caller, not a user mistake
        raise ValueError(f"unknown config names: {unknown}")

    raw = _given(flags, environ)
    workdir = _working_directory(raw, cwd or Path.cwd())
    file_path = config_file if config_file is not None else workdir / CONFIG_FILE
    for name, value in _from_file(file_path, given=config_file is not None).items():
        raw.setdefault(name, value)
    for name, value in (overrides or {}).items():
        raw[name] = (value, Source("flag", f"--{name}"))
    if "github-token" not in raw and environ.get("GITHUB_TOKEN"):
        raw["github-token"] = (environ["GITHUB_TOKEN"], Source("input", "GITHUB_TOKEN"))

    values, sources = _parse_all(raw)
    if round_limit and values["round"] > values["max-rounds"]:
        raise ConfigError(
            f'round must not exceed max-rounds ({values["max-rounds"]}), got "{values["round"]}"; '
            "the loop has ended: raise max-rounds or start again at round 1"
        )

    values["working-directory"] = workdir
    attrs = {name.replace("-", "_"): value for name, value in values.items()}
    return Config(
        **attrs,
        github=_github_context(environ),
        config_file=file_path if file_path.is_file() else None,
        sources=sources,
    )
