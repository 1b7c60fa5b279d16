"""The ``epochs`` change: raise the number of epochs where the training set-up keeps it.

Two places are supported, both edited in place of the one number and nothing else:

* the training script (libcst): an ``--epochs`` option's ``default=N`` (argparse ``add_argument`` or
  ``click.option``), else an ``EPOCHS = N`` constant, else a single ``fit(..., epochs=N)``;
* ``.keras-ct.yml``: a ``--epochs N`` (or ``--epochs=N``) inside its ``train-command``.

A train command that passes ``--epochs N`` overrides the script's default, so the caller must edit the
place the command comes from (``command_epochs`` tells whether it passes one).
"""

from __future__ import annotations

import shlex

import libcst as cst
import yaml
from libcst.metadata import MetadataWrapper, PositionProvider

from keras_ct.augment.edit import Edit
from keras_ct.errors import AugmentError

EPOCH_FLAGS = ("--epochs", "--num-epochs", "--num_epochs", "--n-epochs", "--max-epochs")
EPOCH_NAMES = ("EPOCHS", "NUM_EPOCHS", "N_EPOCHS", "MAX_EPOCHS", "epochs", "num_epochs", "n_epochs")
MAX_EPOCHS = 1000


def raised(epochs: int, factor: float = 2.0) -> int:
    """The new epoch count: ``epochs * factor``, at least one more, at most ``MAX_EPOCHS``."""
    return min(MAX_EPOCHS, max(epochs + 1, round(epochs * factor)))


def command_epochs(command: str) -> int | None:
    """The epochs a train command line passes explicitly (``--epochs 5`` / ``--epochs=5``), else None."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for i, word in enumerate(words):
        flag, _, value = word.partition("=")
        if flag in EPOCH_FLAGS:
            text = value if value else (words[i + 1] if i + 1 < len(words) else "")
            return int(text) if text.isdigit() else None
    return None


def plan_epochs_edit(source: str, *, path: str = "<train>", factor: float = 2.0) -> Edit:
    """Raise the epochs in a training script (``.py``) or a ``.keras-ct.yml`` (by the path's suffix)."""
    if path.endswith((".yml", ".yaml")):
        return plan_config_epochs_edit(source, path=path, factor=factor)
    return plan_script_epochs_edit(source, path=path, factor=factor)


def plan_script_epochs_edit(source: str, *, path: str = "<train>", factor: float = 2.0) -> Edit:
    """Raise the epochs setting of a Python training script."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError as exc:
        raise AugmentError(
            f"{path}:{exc.raw_line}: cannot parse the training script: {exc.message}",
            file=path,
            line=exc.raw_line,
        ) from None
    module = wrapper.module
    positions = wrapper.resolve(PositionProvider)
    found = _ScriptFinder()
    module.visit(found)
    for kind, nodes in (("option", found.options), ("constant", found.constants), ("fit", found.fits)):
        if not nodes:
            continue
        values = {int(n.value.replace("_", ""), 0) for n in nodes}
        if len(nodes) > 1 and (kind != "fit" or len(values) > 1):
            lines = ", ".join(str(positions[n].start.line) for n in nodes)
            raise AugmentError(
                f"{path}: several {_WHAT[kind]} set the epochs (lines {lines}); keep one so keras-ct knows "
                "which to raise",
                file=path,
                line=positions[nodes[0]].start.line,
            )
        old = values.pop()
        new = raised(old, factor)
        target = nodes[0]
        replaced = module.visit(_ReplaceInteger(target, new, found.helps.get(id(target)), old))
        line = positions[target].start.line
        return Edit(
            change="epochs",
            path=path,
            new_source=replaced.code,
            description=f"epochs {old} \u2192 {new} ({_WHAT[kind][:-1]} at line {line})",
            action=f"raising epochs from {old} to {new}",
            layer_kind="",
            line=line,
        )
    raise AugmentError(
        f"{path}: no epochs setting found; keras-ct looked for an --epochs option with default=N "
        "(argparse or "
        "click), an EPOCHS = N constant and a fit(..., epochs=N) call with a literal number",
        file=path,
    )


_WHAT = {"option": "--epochs options", "constant": "EPOCHS constants", "fit": "fit(epochs=...) calls"}


class _ScriptFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.options: list[cst.Integer] = []
        self.constants: list[cst.Integer] = []
        self.fits: list[cst.Integer] = []
        self.helps: dict[int, cst.SimpleString] = {}  # an option's help text, to keep "(default: N)" true

    def visit_Call(self, node: cst.Call) -> None:
        strings = [a.value.evaluated_value for a in node.args if isinstance(a.value, cst.SimpleString)]
        default = next((a for a in node.args if a.keyword is not None and a.keyword.value == "default"), None)
        if (
            any(s in EPOCH_FLAGS for s in strings)
            and default is not None
            and isinstance(default.value, cst.Integer)
        ):
            self.options.append(default.value)
            for a in node.args:
                if (
                    a.keyword is not None
                    and a.keyword.value == "help"
                    and isinstance(a.value, cst.SimpleString)
                ):
                    self.helps[id(default.value)] = a.value
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "fit":
            for a in node.args:
                if a.keyword is not None and a.keyword.value == "epochs" and isinstance(a.value, cst.Integer):
                    self.fits.append(a.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
            and node.targets[0].target.value in EPOCH_NAMES
            and isinstance(node.value, cst.Integer)
        ):
            self.constants.append(node.value)


class _ReplaceInteger(cst.CSTTransformer):
    """Replace one number; also "default: N" in the option's help text when it quotes the old value."""

    def __init__(self, target: cst.Integer, value: int, help_text: cst.SimpleString | None, old: int) -> None:
        super().__init__()
        self.target = target
        self.value = value
        self.help_text = help_text
        self.old = old

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.SimpleString:
        if original_node is not self.help_text:
            return updated_node
        before, after = f"default: {self.old})", f"default: {self.value})"
        return updated_node.with_changes(value=updated_node.value.replace(before, after))

    def leave_Integer(self, original_node: cst.Integer, updated_node: cst.Integer) -> cst.Integer:
        return (
            updated_node.with_changes(value=str(self.value)) if original_node is self.target else updated_node
        )


def plan_config_epochs_edit(source: str, *, path: str = ".keras-ct.yml", factor: float = 2.0) -> Edit:
    """Raise ``--epochs N`` inside the ``train-command`` of a ``.keras-ct.yml``; only that number changes."""
    try:
        root = yaml.compose(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise AugmentError(f"{path}:{line}: invalid YAML: {exc}", file=path, line=line) from None
    node = None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value in ("train-command", "train_command"):
                node = value
    if not isinstance(node, yaml.ScalarNode):
        raise AugmentError(f"{path}: no train-command to raise --epochs in", file=path)
    line = node.start_mark.line + 1
    old = command_epochs(node.value)
    if old is None:
        raise AugmentError(
            f"{path}:{line}: the train-command passes no --epochs N (got {node.value!r}); "
            "add --epochs N to it, "
            "or let keras-ct edit the training script's default",
            file=path,
            line=line,
        )
    start, end = node.start_mark.index, node.end_mark.index
    raw = source[start:end]
    new = raised(old, factor)
    for flag in EPOCH_FLAGS:
        for separator in (" ", "="):
            token = f"{flag}{separator}{old}"
            at = raw.find(token)
            if at >= 0 and not raw[at + len(token) : at + len(token) + 1].isdigit():
                edited = raw[:at] + f"{flag}{separator}{new}" + raw[at + len(token) :]
                return Edit(
                    change="epochs",
                    path=path,
                    new_source=source[:start] + edited + source[end:],
                    description=f"epochs {old} \u2192 {new} (train-command at line {line})",
                    action=f"raising epochs from {old} to {new}",
                    layer_kind="",
                    line=line,
                )
    raise AugmentError(
        f"{path}:{line}: found --epochs {old} in the train-command but not written as `--epochs {old}`; "
        "write it that way so keras-ct can raise it",
        file=path,
        line=line,
    )
