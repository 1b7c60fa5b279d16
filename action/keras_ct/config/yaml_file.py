"""Reading ``.keras-ct.yml``: plain YAML, each key's line kept for messages, every problem a ``ConfigError``.

PyYAML is imported only when there is a file to read: ``import keras_ct`` never imports it, and the
plan job (``python -S -m keras_ct.detect``, the standard library only) needs it only then.
"""

from __future__ import annotations

import difflib
import functools
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from keras_ct.config.fields import BY_NAME, FIELD_NAMES, PLAN_FIELD_NAMES, Source
from keras_ct.errors import ConfigError

CONFIG_FILE = ".keras-ct.yml"

Entries = dict[str, tuple[Any, Source]]


def _yaml(label: str) -> ModuleType:
    """PyYAML, or a ``ConfigError`` that says how to get it (a ``python -S`` has no site-packages)."""
    try:
        import yaml  # only when there is a config file: keras-ct run starts the training sooner without
    except ImportError:
        raise ConfigError(
            f"reading {label} needs PyYAML, which {sys.executable} cannot import"
            + (" (it runs with -S, without site-packages)" if sys.flags.no_site else "")
            + "; install it (pip install pyyaml) or run keras-ct where it is installed",
            file=label,
        ) from None
    return yaml


def read_config_file(path: Path) -> Entries:
    """Parse ``.keras-ct.yml`` keeping each key's line for messages.

    Plain YAML only: UTF-8 text, safe values (no ``!!python/...`` tags), each key once. Every problem
    is a ``ConfigError`` with the file and line.
    """
    label = str(path)
    text = _decode(path, label)
    yaml = _yaml(label)
    try:
        loader = _strict_loader()(text)  # reading starts here: a NUL or a control character fails now
    except yaml.YAMLError as exc:
        raise _syntax_error(label, exc, text) from None
    loader.label = label
    try:
        root, values = _document(yaml, loader, label, text)
    finally:
        loader.dispose()
    return _entries(label, root, values)


def _decode(path: Path, label: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {label}: {exc.strerror}; make it a readable file", file=label
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{label} line {bad_line} is not UTF-8 text (byte {data[exc.start : exc.start + 1]!r}: "
            f"{exc.reason}); YAML files are UTF-8: save it as UTF-8",
            file=label,
            line=bad_line,
        ) from None


def _document(yaml: ModuleType, loader: Any, label: str, text: str) -> tuple[Any, dict[str, Any]]:
    """The root mapping node and its values (``None, {}`` for an empty file)."""
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _syntax_error(label, exc, text) from None
    if root is None:
        return None, {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            f"{label} must be a mapping of input names to values (e.g. `threshold: 0.95`)",
            file=label,
            line=root.start_mark.line + 1,
        )
    try:
        values: dict[str, Any] = loader.construct_document(root)
    except yaml.YAMLError as exc:
        at, problem = _yaml_problem(exc, text)
        fix = (
            "remove the tag: keras-ct reads plain values (text, numbers, true/false, lists)"
            if "constructor for the tag" in problem
            else "write plain values: text, numbers, true/false or lists"
        )
        where = f" line {at}" if at else ""
        raise ConfigError(f"{label}{where}: {problem}; {fix}", file=label, line=at) from None
    return root, values


def _entries(label: str, root: Any, values: dict[str, Any]) -> Entries:
    result: Entries = {}
    for key_node, _value_node in root.value if root is not None else ():
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        _check_key(label, key, line)
        bad = _not_text(values[key])
        if bad is not None:
            raise ConfigError(
                f"{label} line {line} ({key}): the value has {bad!r}, an escape that is no character (a lone "
                "surrogate); write the character itself, or remove the escape",
                file=label,
                line=line,
            )
        result[key] = (values[key], Source("file", f"{label} line {line} ({key})", label, line))
    return result


def _check_key(label: str, key: str, line: int) -> None:
    """A key the file may hold: a field of ``FIELDS``, not a secret, not a plan job's routing setting."""
    if key in PLAN_FIELD_NAMES:
        problem = (
            f"{key} must not be set in {CONFIG_FILE}: the plan job reads this file from the pull request's "
            "code, and a pull request must not choose the runner its code runs on; set it as an input of "
            "the detect action (the reusable workflow's input of that name)"
        )
    elif key not in FIELD_NAMES:
        problem = f"unknown key {key!r}{_closest(key)}; known keys: {', '.join(FIELD_NAMES)}"
    elif BY_NAME[key].secret:
        problem = f"{key} must not be stored in a file; pass it as an input or an environment secret"
    else:
        return
    raise ConfigError(f"{label} line {line}: {problem}", file=label, line=line)


def _closest(name: str) -> str:
    match = difflib.get_close_matches(name, FIELD_NAMES, n=1, cutoff=0.5)
    return f' (did you mean "{match[0]}"?)' if match else ""


def _not_text(value: Any) -> str | None:
    """The first lone surrogate in a YAML value (``"\\ud800"`` parses to one), else None."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return item[exc.start]
        elif isinstance(item, list | dict) and id(item) not in seen:  # an alias may make a cycle
            seen.add(id(item))
            stack.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return None


def _syntax_error(label: str, exc: Exception, text: str) -> ConfigError:
    at, problem = _yaml_problem(exc, text)
    where = f" at line {at}" if at else ""
    return ConfigError(
        f"{label} is not valid YAML{where}: {problem}; fix the syntax (a mapping of input names to values)",
        file=label,
        line=at,
    )


def _yaml_problem(exc: Exception, text: str) -> tuple[int | None, str]:
    """The line (1-based, when known) and the problem of a PyYAML error, without its "<unicode string>"."""
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (a NUL, a control)
        return text.count("\n", 0, exc.position) + 1, f"the character {chr(exc.character)!r} is not allowed"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return (mark.line + 1 if mark is not None else None), problem


@functools.cache
def _strict_loader() -> Any:
    """PyYAML's ``SafeLoader`` (no Python objects) that also refuses a key given twice in one mapping.

    YAML says the keys of a mapping are unique; PyYAML keeps the last one silently, so
    ``threshold: 0.9`` then ``threshold: 0.5`` would quietly train to 0.5. Built on first use: importing
    keras_ct never imports yaml.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        label = CONFIG_FILE

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            first_line: dict[str, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key_node.start_mark.line + 1
                if key_node.value in first_line:
                    first = first_line[key_node.value]
                    lines = f"on line {line}" if first == line else f"on line {first} and line {line}"
                    raise ConfigError(
                        f"{self.label} line {line}: {key_node.value!r} is given twice, {lines}; keep one of them",
                        file=self.label,
                        line=line,
                    )
                first_line[key_node.value] = line
            return super().construct_mapping(node, deep=deep)

    return StrictLoader
