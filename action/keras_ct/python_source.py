"""Python source files in the encoding they declare: a UTF-8 BOM or a PEP 263 coding line.

Python reads ``# -*- coding: latin-1 -*-`` and a leading UTF-8 byte order mark itself, so a model file
written that way is valid and must stay so: ``decode_source`` reads it as Python does, and
``encode_source`` writes an edited text back in the encoding its coding line declares, with the BOM
when the file had one; ``parse_python`` is the one syntax check of a model file. Pure functions over
bytes and text; the callers read and write the files.
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize

from keras_ct.errors import KerasCTError


class SourceEncodingError(ValueError):
    """The bytes are not text in the encoding Python would read them with; ``str()`` says why."""


def decode_source(data: bytes) -> str:
    """The text Python reads from ``data``: the declared encoding (PEP 263), else UTF-8; no BOM."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown codec, a BOM with another coding line, undecodable line 1
        raise SourceEncodingError(f"{exc.msg}{_declare_hint()}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        shown = "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding
        raise SourceEncodingError(
            f"line {line} is not {shown} text (byte {data[exc.start : exc.start + 1]!r}: {exc.reason})"
            f"{_declare_hint()}"
        ) from None


def declared_encoding(text: str) -> str:
    """The encoding the text's coding line declares (PEP 263: line 1 or 2), else ``utf-8``."""
    # Only the cookie matters, and it is ASCII: hide other characters from the codec check.
    head = "".join(text.splitlines(keepends=True)[:2]).encode("ascii", "replace")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(head).readline)
    except SyntaxError as exc:
        raise SourceEncodingError(exc.msg) from None
    return "utf-8" if encoding == "utf-8-sig" else encoding


def encode_source(text: str, *, bom: bool = False) -> bytes:
    """``text`` as bytes in the encoding its coding line declares; with a UTF-8 BOM when ``bom``."""
    encoding = declared_encoding(text)
    if bom and codecs.lookup(encoding).name != "utf-8":
        raise SourceEncodingError(f"a file with a UTF-8 byte order mark cannot declare coding {encoding}")
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise SourceEncodingError(
            f"line {line} has {text[exc.start]!r}, which the declared encoding {encoding} cannot hold"
        ) from None
    return codecs.BOM_UTF8 + data if bom else data


def parse_python(
    source: str,
    shown: str,
    *,
    advice: str,
    error: type[KerasCTError] = KerasCTError,
    subject: str = "",
) -> ast.Module:
    """The module ``source`` (the file ``shown``) parses to; a syntax error raises ``error`` with the
    file, the line and the caller's ``advice`` (``fix it before training``).

    The message names the file as ``shown:line:`` (the augmenter's errors all do), or, given ``subject``
    (the input that names the file: ``model-file ml_task/model.py``), as that subject.
    """
    try:
        return ast.parse(source, filename=shown)
    except SyntaxError as exc:
        if subject:
            message = f"{subject} has a syntax error at line {exc.lineno}: {exc.msg}; {advice}"
        else:
            message = f"{shown}:{exc.lineno}: syntax error: {exc.msg}; {advice}"
        raise error(message, file=shown, line=exc.lineno) from None


def has_bom(data: bytes) -> bool:
    return data.startswith(codecs.BOM_UTF8)


def _declare_hint() -> str:
    return "; save the file as UTF-8, or declare its encoding on line 1 (e.g. `# -*- coding: latin-1 -*-`)"
