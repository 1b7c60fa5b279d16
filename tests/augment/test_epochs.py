"""The epochs change: one number raised where the training set-up keeps it, nothing else touched."""

from __future__ import annotations

import difflib
import textwrap

import pytest

from keras_ct.augment.epochs import command_epochs, plan_epochs_edit, raised
from keras_ct.errors import AugmentError


def _changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    diff = [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:2] in ("- ", "+ ")]
    return list(zip(diff[0::2], diff[1::2], strict=True))


@pytest.mark.parametrize(
    ("source", "before", "after", "line"),
    [
        pytest.param(
            "import argparse\n\np = argparse.ArgumentParser()\n"
            'p.add_argument("--epochs", type=int, default=5)\n'
            'p.add_argument("--batch-size", type=int, default=64)\n',
            'p.add_argument("--epochs", type=int, default=5)',
            'p.add_argument("--epochs", type=int, default=10)',
            4,
            id="argparse-default",
        ),
        pytest.param(
            "import click\n\n\n@click.command()\n"
            '@click.option("-e", "--epochs", default=3, show_default=True)\n'
            "def main(epochs):\n    pass\n",
            '@click.option("-e", "--epochs", default=3, show_default=True)',
            '@click.option("-e", "--epochs", default=6, show_default=True)',
            5,
            id="click-option",
        ),
        pytest.param(
            "EPOCHS = 8  # keep it small\nBATCH = 32\n",
            "EPOCHS = 8  # keep it small",
            "EPOCHS = 16  # keep it small",
            1,
            id="constant",
        ),
        pytest.param(
            "def train(model, x, y):\n    model.fit(x, y, epochs=4, batch_size=32)\n",
            "    model.fit(x, y, epochs=4, batch_size=32)",
            "    model.fit(x, y, epochs=8, batch_size=32)",
            2,
            id="fit-call",
        ),
    ],
)
def test_script_epochs_raised_in_place(source: str, before: str, after: str, line: int) -> None:
    edit = plan_epochs_edit(source, path="train.py")
    assert _changed_lines(source, edit.new_source) == [(f"- {before}", f"+ {after}")]
    assert edit.line == line
    assert edit.change == "epochs"
    assert edit.action.startswith("raising epochs from ")


def test_help_text_quoting_the_default_follows_it() -> None:
    source = 'p.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")\n'
    edit = plan_epochs_edit(source, path="train.py")
    assert (
        edit.new_source
        == 'p.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")\n'
    )


def test_option_default_wins_over_fit_call() -> None:
    source = textwrap.dedent(
        """
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=5)
        args = parser.parse_args()
        model.fit(x, y, epochs=args.epochs)
        model.fit(x, y, epochs=1)  # warm-up
        """
    )
    edit = plan_epochs_edit(source, path="train.py")
    assert edit.description == "epochs 5 \u2192 10 (--epochs option at line 4)"
    assert "epochs=1)  # warm-up" in edit.new_source


def test_two_different_fit_epochs_are_ambiguous() -> None:
    source = "model.fit(x, y, epochs=1)\nmodel.fit(x, y, epochs=5)\n"
    with pytest.raises(
        AugmentError, match=r"train.py: several fit\(epochs=...\) calls set the epochs \(lines 1, 2\)"
    ):
        plan_epochs_edit(source, path="train.py")


def test_no_epochs_setting_says_where_it_looked() -> None:
    with pytest.raises(AugmentError) as caught:
        plan_epochs_edit("import sys\nEPOCHS = int(sys.argv[1])\n", path="train.py")
    assert str(caught.value).startswith(
        "train.py: no epochs setting found; keras-ct looked for an --epochs option"
    )


def test_script_with_syntax_error() -> None:
    with pytest.raises(AugmentError, match=r"^train.py:\d+: cannot parse the training script"):
        plan_epochs_edit("def main(:\n    pass\n", path="train.py")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "train-command: python ml_task/train.py --epochs 5 --dataset digits",
            "--epochs 10 --dataset",
            id="plain",
        ),
        pytest.param("train-command: 'python train.py --epochs=5'", "--epochs=10'", id="quoted-equals"),
    ],
)
def test_config_train_command_epochs(line: str, expected: str) -> None:
    source = f"# keras-ct settings\nthreshold: 0.95\n{line}  # fast\nmax-rounds: 5\n"
    edit = plan_epochs_edit(source, path=".keras-ct.yml")
    changed = _changed_lines(source, edit.new_source)
    assert len(changed) == 1
    assert expected in changed[0][1]
    assert changed[0][1].endswith("  # fast")
    assert edit.line == 3


def test_config_without_epochs_in_the_command() -> None:
    with pytest.raises(AugmentError) as caught:
        plan_epochs_edit("train-command: python train.py\n", path=".keras-ct.yml")
    assert str(caught.value).startswith(".keras-ct.yml:1: the train-command passes no --epochs N")


@pytest.mark.parametrize(
    ("command", "epochs"),
    [
        ("python train.py --epochs 5", 5),
        ("python train.py --epochs=12 --batch-size 64", 12),
        ("python train.py --dataset digits", None),
        ("python train.py --epochs $EPOCHS", None),
        ("python train.py --num-epochs 3", 3),
    ],
)
def test_command_epochs(command: str, epochs: int | None) -> None:
    assert command_epochs(command) == epochs


def test_raised_doubles_and_is_capped() -> None:
    assert raised(5) == 10
    assert raised(1, factor=1.2) == 2
    assert raised(900) == 1000
