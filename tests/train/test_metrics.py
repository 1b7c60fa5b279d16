"""The metrics file: every way it can be wrong gets a message naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keras_ct.errors import MetricsError
from keras_ct.train.metrics import read_metrics

GOOD = {
    "schema_version": 1,
    "metric": "accuracy",
    "accuracy": 0.9361,
    "history": {
        "loss": [1.2, 0.5],
        "accuracy": [0.7, 0.9],
        "val_loss": [0.9, 0.6],
        "val_accuracy": [0.8, 0.91],
    },
    "epochs": 2,
    "params": 5450,
    "duration_s": 3.2,
    "dataset": "digits",
}


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "metrics.json"
    path.write_text(content)
    return path


def test_valid_document(tmp_path: Path) -> None:
    m = read_metrics(write(tmp_path, json.dumps(GOOD)))
    assert m.value == pytest.approx(0.9361)
    assert m.curves.val_accuracy == (0.8, 0.91)
    assert (m.params, m.epochs, m.dataset) == (5450, 2, "digits")


def test_the_test_set_size_is_read_when_given(tmp_path: Path) -> None:
    assert read_metrics(write(tmp_path, json.dumps({**GOOD, "test_samples": 360}))).samples == 360
    assert read_metrics(write(tmp_path, json.dumps(GOOD))).samples is None
    assert read_metrics(write(tmp_path, json.dumps({**GOOD, "test_samples": 0}))).samples is None


def test_other_metric_key(tmp_path: Path) -> None:
    doc = {**GOOD, "f1": 0.8}
    assert read_metrics(write(tmp_path, json.dumps(doc)), "f1").value == pytest.approx(0.8)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(
        MetricsError,
        match=r"was not written: the train command must call Keras' fit \(keras-ct's hooks then write it; "
        r"docs/integration.md\) or write JSON to the path in \$KERAS_CT_METRICS_FILE itself",
    ):
        read_metrics(tmp_path / "metrics.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "the file is empty", id="empty"),
        pytest.param("{not json", "is not valid JSON: Expecting property name", id="invalid-json"),
        pytest.param("[1, 2]", "must be a JSON object, got list", id="not-object"),
        pytest.param(
            json.dumps({**GOOD, "accuracy": float("nan")}),
            '"accuracy" must be a finite number, got nan',
            id="nan",
        ),
        pytest.param(
            json.dumps({**GOOD, "accuracy": 1.5}),
            '"accuracy" must be between 0 and 1, got 1.5',
            id="above-one",
        ),
        pytest.param(
            json.dumps({**GOOD, "accuracy": "0.9"}), '"accuracy" must be a number, got "0.9"', id="string"
        ),
        pytest.param(
            json.dumps({**GOOD, "accuracy": True}), '"accuracy" must be a number, got true', id="bool"
        ),
        pytest.param(
            json.dumps({k: v for k, v in GOOD.items() if k != "accuracy"}),
            'the metric "accuracy" is missing',
            id="no-metric",
        ),
        pytest.param(
            json.dumps({**GOOD, "schema_version": 2}), '"schema_version" must be 1, got 2', id="version"
        ),
        pytest.param(
            json.dumps({**GOOD, "history": {"loss": [1, "x"]}}),
            '"history.loss" must be a list of finite numbers',
            id="history",
        ),
        pytest.param(
            json.dumps({**GOOD, "params": -5}), '"params" must be a whole number >= 0, got -5', id="params"
        ),
        pytest.param(
            json.dumps({**GOOD, "test_samples": 359.5}),
            '"test_samples" must be a whole number >= 0, got 359.5',
            id="test-samples",
        ),
    ],
)
def test_invalid_documents(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(MetricsError) as info:
        read_metrics(path)
    assert message in str(info.value)
    assert info.value.file == str(path)


def test_float32_accuracy_at_the_threshold_meets_it() -> None:
    from keras_ct.train.metrics import meets

    float32_of_342_of_360 = 0.949999988079071  # what Keras reports for 342/360 right
    assert meets(float32_of_342_of_360, 0.95)
    assert not meets(341 / 360, 0.95)
