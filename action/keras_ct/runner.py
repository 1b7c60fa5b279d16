"""The one place that speaks the GitHub Actions runner protocol.

Workflow commands (``::error``, ``::group``, ``::add-mask``) and the file commands
(``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``) go through ``Runner``. Formatting and escaping follow
GitHub's actions/toolkit (``toCommandValue``, ``escapeData``/``escapeProperty`` and the heredoc
form of ``prepareKeyValueMessage``), written here with the standard library only: the plan job
(``python -S -m keras_ct.detect``) reports through this class too. The streams and paths are passed
in, so tests hand it a ``StringIO`` and ``tmp_path`` files. Outside Actions the same calls print a
plain, readable terminal form.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from keras_ct.errors import KerasCTError

#: GitHub's limit for one step's summary is 1 MiB; stay clear of it.
SUMMARY_LIMIT = 1024 * 1024 - 4096


def _command_value(value: object) -> str:
    """A value as a workflow command carries it: None is empty, text as it is, anything else JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command_line(name: str, properties: Mapping[str, object], message: object) -> str:
    """``::name key=value,key=value::message`` with GitHub's escapes (a newline is ``%0A``, never cut)."""
    props = ",".join(f"{key}={_escape_property(_command_value(v))}" for key, v in properties.items())
    return f"::{name}{' ' + props if props else ''}::{_escape_data(_command_value(message))}"


def key_value_message(name: str, value: object) -> str:
    """One ``$GITHUB_OUTPUT`` entry in the heredoc form, so a value may hold newlines."""
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    text = _command_value(value)
    if delimiter in name or delimiter in text:  # a value that guessed a random delimiter
        raise ValueError(f"the output {name!r} contains its delimiter {delimiter}")
    return f"{name}<<{delimiter}{os.linesep}{text}{os.linesep}{delimiter}"


@dataclass
class Runner:
    """Reports to the Actions runner (``actions=True``) or to a terminal."""

    actions: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    output_path: Path | None = None
    summary_path: Path | None = None
    #: GITHUB_WORKSPACE: GitHub places an annotation on a file by its path from the repository root.
    workspace: Path | None = None
    _secrets: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Runner:
        def path(name: str) -> Path | None:
            value = environ.get(name, "")
            return Path(value) if value else None

        return cls(
            actions=environ.get("GITHUB_ACTIONS") == "true",
            output_path=path("GITHUB_OUTPUT"),
            summary_path=path("GITHUB_STEP_SUMMARY"),
            workspace=path("GITHUB_WORKSPACE"),
        )

    # -- annotations -------------------------------------------------------------------------
    def _command(self, name: str, message: str, **properties: object) -> None:
        props = {k: v for k, v in properties.items() if v is not None}
        if isinstance(props.get("file"), str):
            props["file"] = self._from_workspace(str(props["file"]))
        self.out.write(command_line(name, props, self.redact(message)) + "\n")
        self.out.flush()

    def _from_workspace(self, file: str) -> str:
        """An absolute path inside the workspace, as GitHub wants it: relative to the repository root."""
        if self.workspace is None or not Path(file).is_absolute():
            return file
        try:
            return Path(file).resolve().relative_to(self.workspace.resolve()).as_posix()
        except ValueError:
            return file

    def error(
        self, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        if self.actions:
            self._command("error", message, file=file, line=line, title=title)
        else:
            self._terminal("error", message, file, line)

    def warning(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        if self.actions:
            self._command("warning", message, file=file, line=line)
        else:
            self._terminal("warning", message, file, line)

    def _terminal(self, kind: str, message: str, file: str | None, line: int | None) -> None:
        """``keras-ct: error: x.py:2: message`` on stderr (no place when the message already names it)."""
        where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
        if file and file in message:
            where = ""
        self.err.write(f"keras-ct: {kind}: {where}{self.redact(message)}\n")
        self.err.flush()

    def notice(self, message: str) -> None:
        if self.actions:
            self._command("notice", message)
        else:
            self.info(message)

    def info(self, message: str = "") -> None:
        self.out.write(self.redact(message) + "\n")
        self.out.flush()

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.actions:
            self.out.write(f"::group::{title}\n")
        else:
            self.out.write(f"== {title}\n")
        self.out.flush()
        try:
            yield
        finally:
            if self.actions:
                self.out.write("::endgroup::\n")
                self.out.flush()

    # -- secrets -----------------------------------------------------------------------------
    def mask(self, secret: str) -> None:
        """Register a secret: the runner masks it in logs, and we never print it ourselves."""
        if not secret or secret in self._secrets:
            return
        self._secrets.append(secret)
        if self.actions:
            self.out.write(f"::add-mask::{secret}\n")
            self.out.flush()

    def redact(self, text: str) -> str:
        """The text as it may be shown: secrets masked, and what UTF-8 cannot hold (a lone surrogate
        from an undecodable argument or a YAML escape) written as an escape instead of failing."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    # -- file commands -----------------------------------------------------------------------
    def set_output(self, name: str, value: object) -> None:
        if self.output_path is None:
            return
        with _runner_file(self.output_path, "GITHUB_OUTPUT", newline="") as fh:
            fh.write(key_value_message(name, value) + os.linesep)

    def set_outputs(self, values: Mapping[str, object]) -> None:
        for name, value in values.items():
            self.set_output(name, value)

    def add_summary(self, markdown: str) -> None:
        if self.summary_path is None:
            return
        text = self.redact(markdown)
        if len(text.encode()) > SUMMARY_LIMIT:
            text = (
                text.encode()[:SUMMARY_LIMIT].decode(errors="ignore")
                + "\n\n_(summary truncated at GitHub's 1 MiB limit)_\n"
            )
        with _runner_file(self.summary_path, "GITHUB_STEP_SUMMARY") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")


@contextmanager
def _runner_file(path: Path, variable: str, newline: str | None = None) -> Iterator[TextIO]:
    """Append to a file the runner named in ``variable``; a failure is a ``KerasCTError`` naming both."""
    try:
        with path.open("a", encoding="utf-8", newline=newline) as fh:
            yield fh
    except OSError as exc:
        raise KerasCTError(
            f"cannot write {variable} ({path}): {exc.strerror}; the runner sets this variable to a file it "
            "owns: on a self-hosted runner, check that its work folder exists and is writable"
        ) from None
