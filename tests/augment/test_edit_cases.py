"""plan_edit on small inline models: layout corner cases, spellings, imports, and code it must refuse."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from keras_ct.augment.edit import MODEL_CHANGES, plan_edit
from keras_ct.errors import AugmentError

UNSUPPORTED = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "unsupported"


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _sequential(
    *layers: str, imports: str = "import keras\nfrom keras import layers", call: str = "keras.Sequential"
) -> str:
    """A model file whose ``build_model()`` returns ``call([...])`` of these lines, one a row, after ``imports``."""
    rows = "".join(f"            {layer}\n" for layer in layers)
    return f"{imports}\n\n\ndef build_model():\n    return {call}(\n        [\n{rows}        ]\n    )\n"


def test_comment_on_its_own_line_stays_above_the_element_it_describes() -> None:
    # The libcst trap: that comment lives in the previous element's comma. It must not be copied or moved.
    source = _sequential(
        "keras.Input(shape=(28, 28, 1)),",
        'layers.Conv2D(32, 3, padding="same", activation="relu"),',
        "layers.MaxPooling2D(),  # end of block 1",
        "# the head",
        "layers.Flatten(),",
        "layers.Dense(10),",
    )
    edit = plan_edit(source, "conv-block")
    assert edit.new_source.count("# the head") == 1
    assert edit.new_source.count("# end of block 1") == 1
    assert (
        "            layers.MaxPooling2D(),  # end of block 1\n"
        '            layers.Conv2D(64, 3, padding="same", activation="relu"),\n'
        "            layers.MaxPooling2D(),\n"
        "            # the head\n"
        "            layers.Flatten(),\n"
    ) in edit.new_source


def test_insert_after_last_list_element_without_trailing_comma_then_model_add() -> None:
    source = _src(
        """
        import keras
        from keras import layers


        def build_model():
            model = keras.Sequential([
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(8, 3, padding="same", activation="relu"),
                layers.MaxPooling2D()  # pool
            ])
            model.add(layers.Flatten())
            model.add(layers.Dense(10))
            return model
        """
    )
    edit = plan_edit(source, "conv-block")
    assert edit.style == "sequential+add"
    assert edit.new_source == source.replace(
        "        layers.MaxPooling2D()  # pool\n",
        "        layers.MaxPooling2D(),  # pool\n"
        '        layers.Conv2D(16, 3, padding="same", activation="relu"),\n'
        "        layers.MaxPooling2D()\n",
    )


def test_single_line_list_is_edited_on_its_line() -> None:
    source = (
        "import keras\n\n\ndef build_model():\n"
        "    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])\n"
    )
    edit = plan_edit(source, "dense")
    assert edit.new_source.splitlines()[-1] == (
        '    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="relu"), '
        "keras.layers.Dense(10)])"
    )


def test_bare_names_already_imported_need_no_new_import() -> None:
    source = _sequential(
        "Input(shape=(28, 28, 1)),",
        'Conv2D(8, 3, activation="relu"),',
        "MaxPooling2D(),",
        "Flatten(),",
        "Dense(10),",
        imports="from keras import Input, Sequential\nfrom keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D",
        call="Sequential",
    )
    for change in ("conv-block", "dropout"):
        new = plan_edit(source, change).new_source
        assert new.count("import") == source.count("import"), change


def test_star_import_needs_no_new_import() -> None:
    source = _sequential(
        "Input(shape=(28, 28, 1)),",
        'Conv2D(8, 3, activation="relu"),',
        "Flatten(),",
        "Dense(10),",
        imports="from tensorflow.keras.layers import *\nfrom tensorflow.keras.models import Sequential",
        call="Sequential",
    )
    new = plan_edit(source, "conv-block").new_source
    assert "            MaxPooling2D(),\n" in new
    assert new.count("import") == source.count("import")


def test_missing_bare_import_is_added_after_the_existing_one() -> None:
    source = _src(
        """
        from tensorflow.keras import Sequential
        from tensorflow.keras.layers import Dense, Flatten, Input

        CLASSES = 10


        def build_model():
            return Sequential(
                [
                    Input(shape=(28, 28, 1)),
                    Flatten(),
                    Dense(CLASSES),
                ]
            )
        """
    )
    new = plan_edit(source, "dropout").new_source
    assert new.startswith(
        "from tensorflow.keras import Sequential\n"
        "from tensorflow.keras.layers import Dense, Flatten, Input\n"
        "from tensorflow.keras.layers import Dropout\n"
        "\nCLASSES = 10\n"
    )


def test_input_shape_override_decides_the_pooling() -> None:
    source = _src(
        """
        import keras
        from keras import layers


        def build_model(shape):
            return keras.Sequential(
                [
                    keras.Input(shape=shape),
                    layers.Conv2D(8, 3, padding="same", activation="relu"),
                    layers.MaxPooling2D(),
                    layers.Flatten(),
                    layers.Dense(10),
                ]
            )
        """
    )
    unknown = plan_edit(source, "conv-block")  # shape unknown statically: pooling kept, the build decides
    assert unknown.description == "a Conv2D(16) + MaxPooling2D block"
    small = plan_edit(source, "conv-block", input_shape=(4, 4, 1))
    assert small.description == "a Conv2D(16) block (no pooling: the 2x2 feature map would shrink to 1x1)"
    assert (
        "MaxPooling2D" not in small.new_source.replace(source, "").split("Conv2D(16")[-1].split("Flatten")[0]
    )
    large = plan_edit(source, "conv-block", input_shape=(32, 32, 3))
    assert large.description == "a Conv2D(16) + MaxPooling2D block"


def test_conv1d_window_arithmetic_skips_pooling_on_short_sequences() -> None:
    source = _sequential(
        "keras.Input(shape=(9, 2)),",
        'layers.Conv1D(8, 3, activation="relu"),',
        "layers.MaxPooling1D(pool_size=3),",
        "layers.Flatten(),",
        "layers.Dense(3),",
    )
    # 9 -> conv 3 valid -> 7 -> pool 3 -> 2 -> new conv (same) 2 -> a pool of 3 would give 0.
    edit = plan_edit(source, "conv-block")
    assert edit.description == "a Conv1D(16) block (no pooling: the 2 feature map would shrink to 0)"


def test_new_conv_copies_strings_in_the_files_quote_style() -> None:
    source = _sequential(
        "keras.Input(shape=(28, 28, 1)),",
        "layers.Conv2D(8, 3, activation='relu', padding='valid'),",
        "layers.Flatten(),",
        "layers.Dense(10, activation='softmax'),",
    )
    new = plan_edit(source, "conv-block").new_source
    assert "            layers.Conv2D(16, 3, activation='relu', padding='same'),\n" in new
    assert "            layers.MaxPooling2D(),\n" in new


def test_dropout_moves_to_an_earlier_point_when_the_last_already_has_one() -> None:
    source = _sequential(
        "keras.Input(shape=(28, 28, 1)),",
        'layers.Conv2D(8, 3, activation="relu"),',
        "layers.MaxPooling2D(),",
        "layers.Flatten(),",
        "layers.Dropout(0.5),",
        "layers.Dense(10),",
    )
    edit = plan_edit(source, "dropout")
    assert edit.description == "Dropout(0.25) after MaxPooling2D"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            "layers.Conv2D(filters, 3, activation='relu'),",
            "the filters of Conv2D at model.py:9 is `filters`, not a literal number",
            id="filters-not-literal",
        ),
        pytest.param(
            "*blocks,",
            "model.py:9: the layer list of keras.Sequential(...) unpacks `blocks`",
            id="starred-element",
        ),
    ],
)
def test_refuses_what_it_cannot_edit_safely(body: str, message: str) -> None:
    source = _src(
        f"""
        import keras
        from keras import layers


        def build_model(filters=8, blocks=()):
            return keras.Sequential(
                [
                    keras.Input(shape=(28, 28, 1)),
                    {body}
                    layers.Flatten(),
                    layers.Dense(10),
                ]
            )
        """
    )
    with pytest.raises(AugmentError) as caught:
        plan_edit(source, "conv-block", path="model.py")
    assert message in str(caught.value)
    assert caught.value.file == "model.py"


def test_layer_name_already_bound_to_something_else_is_refused() -> None:
    source = _src(
        """
        from keras import Input, Sequential
        from keras.layers import Conv2D, Dense, Flatten


        def MaxPooling2D():
            return None


        def build_model():
            return Sequential([Input(shape=(28, 28, 1)), Conv2D(8, 3), Flatten(), Dense(10)])
        """
    )
    # MaxPooling2D is not imported from keras.layers, so keras-ct would add the import and shadow the helper.
    edit = plan_edit(source, "conv-block")
    assert "from keras.layers import MaxPooling2D" in edit.new_source
    source_bound = source.replace(
        "def MaxPooling2D():\n    return None\n", "from mylib import MaxPooling2D\n"
    )
    with pytest.raises(AugmentError, match=r"MaxPooling2D is already bound to mylib\.MaxPooling2D"):
        plan_edit(source_bound, "conv-block")


def test_syntax_error_reports_the_line() -> None:
    source = _src(
        """
        import keras


        def build_model():
            return keras.Sequential(
                [keras.Input(shape=(8,)) keras.layers.Dense(10)]
            )
        """
    )
    with pytest.raises(AugmentError) as caught:
        plan_edit(source, "dense", path="ml/model.py")
    assert str(caught.value).startswith("ml/model.py:6: syntax error: invalid syntax")
    assert caught.value.line == 6


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        pytest.param(
            "comprehension.py",
            9,
            'takes its layers from `[layers.Dense(units, activation="relu") for units in (64,...`, '
            "not a literal list",
            id="comprehension",
        ),
        pytest.param(
            "no_function.py",
            None,
            "no function build_model() found (functions defined: make_network); set model-function",
            id="no-function",
        ),
        pytest.param(
            "subclassed.py",
            17,
            "no keras.Sequential(...) or keras.Model(...) call found in build_model()",
            id="subclassed",
        ),
        pytest.param(
            "add_in_loop.py", 11, "model.add(...) is not a plain statement in the same block", id="loop"
        ),
        pytest.param(
            "residual.py", 12, "`x = layers.add([x, shortcut])` is not a single layer call", id="branch"
        ),
    ],
)
@pytest.mark.parametrize("change", MODEL_CHANGES)
def test_unsupported_models_get_one_clear_error(
    name: str, line: int | None, message: str, change: str
) -> None:
    with pytest.raises(AugmentError) as caught:
        plan_edit((UNSUPPORTED / name).read_text(encoding="utf-8"), change, path=name)
    text = str(caught.value)
    assert "\n" not in text
    assert message in text
    assert text.startswith(f"{name}:{line}: " if line else f"{name}: ")
    assert caught.value.line == line


def test_unknown_change_is_refused() -> None:
    with pytest.raises(AugmentError, match="unknown model change 'wider'"):
        plan_edit("def build_model():\n    pass\n", "wider")


def test_conv_block_inside_a_custom_helper_is_not_guessed() -> None:
    source = _src(
        """
        import keras
        from keras import layers

        from blocks import conv_block


        def build_model():
            return keras.Sequential(
                [
                    keras.Input(shape=(28, 28, 1)),
                    conv_block(32),
                    layers.Flatten(),
                    layers.Dense(10),
                ]
            )
        """
    )
    with pytest.raises(AugmentError) as caught:
        plan_edit(source, "conv-block", path="model.py")
    assert str(caught.value) == (
        "model.py:7: conv-block needs a convolution layer (Conv1D/Conv2D) in build_model(), found Input, Flatten, "
        "Dense and 1 call it does not recognise (custom blocks?); use the dense change for a model without "
        "convolutions"
    )
    # The other changes still work around the opaque element.
    assert "layers.Dropout(0.5)," in plan_edit(source, "dropout").new_source


def test_functional_insertion_that_would_rebind_a_shared_variable_is_refused() -> None:
    source = _src(
        """
        import keras
        from keras import layers


        def build_model():
            inputs = keras.Input(shape=(64,))
            outputs = layers.Dense(10, activation="softmax")(inputs)
            return keras.Model(inputs=inputs, outputs=outputs)
        """
    )
    # A hidden Dense would go between the Input and the output, rebinding `inputs`, which keras.Model reads too.
    with pytest.raises(AugmentError) as caught:
        plan_edit(source, "dense", path="model.py")
    assert str(caught.value) == (
        "model.py:6: `inputs` is read by more than one later statement (line 8 too); inserting "
        "`inputs = layer(inputs)` after line 6 would change what they see"
    )
