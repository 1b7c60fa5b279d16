"""keras-ct's hooks in the training process (``train/hooks/sitecustomize.py``, ``keras/autolog.py``) on
unmodified Keras scripts (``tests/fixtures/scripts``), each run as keras-ct runs a train command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.keras.hooks import ROOT, hooks_env, script_env

SCRIPTS = ROOT / "tests" / "fixtures" / "scripts"


def run_script(
    script: Path | str, out: Path, *, code: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (or ``python -c code``) with the environment keras-ct gives a train command."""
    env = script_env(out, **extra)
    argv = [sys.executable, "-c", code] if code is not None else [sys.executable, str(script)]
    return subprocess.run(argv, cwd=out, env=env, capture_output=True, text=True, timeout=300, check=False)


def metrics(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return document


# -- without training ---------------------------------------------------------------------------------


def test_a_script_that_never_imports_keras_never_loads_it(tmp_path: Path) -> None:
    code = (
        "import sys; print(type(sys.meta_path[0]).__name__, "
        "sorted(m for m in ('keras', 'tensorflow', 'jax', 'keras_ct') if m in sys.modules))"
    )
    done = run_script("", tmp_path, code=code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "KerasFinder []"  # the hooks wait for Keras; they loaded nothing
    assert not (tmp_path / "metrics.json").exists()


def test_the_sitecustomize_it_shadows_still_runs(tmp_path: Path) -> None:
    user = tmp_path / "user-site"
    user.mkdir()
    (user / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE'] = 'ran'\n")
    env_path = f"{hooks_env()['PYTHONPATH']}:{user}"
    done = run_script(
        "",
        tmp_path,
        code="import os, sys; print(os.environ.get('USER_SITECUSTOMIZE'), sys.modules['sitecustomize'].__file__)",
        PYTHONPATH=env_path,
    )
    assert done.returncode == 0, done.stderr
    ran, loaded = done.stdout.split()
    assert ran == "ran" and loaded.endswith("train/hooks/sitecustomize.py")


def test_a_keras_the_hooks_cannot_patch_still_imports_and_says_the_hooks_are_off(tmp_path: Path) -> None:
    stand_in = tmp_path / "stand-in"
    (stand_in / "keras").mkdir(parents=True)
    (stand_in / "keras" / "__init__.py").write_text("class Model:\n    pass\n")  # no keras.callbacks
    env_path = f"{hooks_env()['PYTHONPATH']}:{stand_in}"
    done = run_script("", tmp_path, code="import keras; print('imported', keras.Model)", PYTHONPATH=env_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported")
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("keras-ct:")]
    assert "autolog hooks are off" in line and "$KERAS_CT_METRICS_FILE" in line and "autolog: false" in line


# -- unmodified scripts, real training ----------------------------------------------------------------


@pytest.mark.training
@pytest.mark.parametrize(
    ("script", "epochs", "source"),
    [
        pytest.param("functional_tfdata.py", 3, "evaluate", id="functional-tf-data"),
        pytest.param("sequential_numpy.py", 3, "last val_accuracy", id="sequential-numpy-validation-split"),
        pytest.param("custom_callbacks.py", 4, "evaluate", id="custom-callbacks"),
        pytest.param("fine_tune.py", 4, "evaluate", id="fit-twice-fine-tune"),
    ],
)
def test_a_plain_script_gets_curves_metric_model_and_checkpoints(
    tmp_path: Path, script: str, epochs: int, source: str
) -> None:
    done = run_script(SCRIPTS / script, tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    found = metrics(tmp_path)
    assert found["schema_version"] == 1 and found["metric"] == "accuracy" and found["autolog"] is True
    assert found["metric_source"] == source
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(found["history"])
    assert all(len(series) == epochs for series in found["history"].values())
    assert found["epochs"] == epochs and found["initial_epoch"] == 0 and found["params"] > 0
    assert len(found["timings"]["epoch_s"]) == epochs
    # The held-out samples the metric was measured on: counted at evaluate (an array's length), so
    # that the candidates' choice knows the metric's noise; never for a validation metric.
    assert ("test_samples" in found) == (source == "evaluate" and script != "functional_tfdata.py")
    if source == "evaluate":  # the script prints what evaluate returned: the file has the same number
        printed = float(done.stdout.rsplit("test accuracy:", 1)[1].split()[0])
        assert found["accuracy"] == pytest.approx(printed, abs=1e-4)
    else:
        assert found["accuracy"] == found["history"]["val_accuracy"][-1]
    assert (tmp_path / "model.keras").is_file()
    assert (tmp_path / "checkpoints" / "epochs.json").is_file()  # the resume log of the first fit
    if script == "fine_tune.py":
        assert (tmp_path / "checkpoints" / "fit-2" / "epochs.json").is_file()
    if script == "custom_callbacks.py":  # the script's own callbacks still ran
        assert done.stdout.count("custom callback: epoch") == epochs


@pytest.mark.training
def test_warm_start_at_the_first_fit(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert run_script(SCRIPTS / "sequential_numpy.py", first).returncode == 0

    done = run_script(
        SCRIPTS / "sequential_numpy.py", second, KERAS_CT_WARM_START_FROM=str(first / "model.keras")
    )

    assert done.returncode == 0, done.stderr[-3000:]
    warm = metrics(second)["warm_start"]
    assert warm["from"] == str(first / "model.keras") and warm["layers_transferred"] == 2
    assert "keras-ct: warm start from" in done.stderr
    # It started where the first run stopped: its first epoch is better than the first run's.
    assert metrics(second)["history"]["loss"][0] < metrics(first)["history"]["loss"][0]


def test_the_hooks_wait_for_the_methods_autolog_patches() -> None:
    """sitecustomize (standard library only) names the patched methods itself: the same as autolog's."""
    import ast

    from keras_ct.keras.autolog import STEPS
    from keras_ct.train.launch import HOOKS_DIR

    tree = ast.parse((HOOKS_DIR / "sitecustomize.py").read_text())
    (steps,) = [
        n.value for n in tree.body if isinstance(n, ast.AnnAssign | ast.Assign) and "_STEPS" in ast.unparse(n)
    ]
    assert ast.literal_eval(steps) == tuple(STEPS)


def test_samples_in_counts_arrays_and_not_datasets() -> None:
    import numpy as np

    from keras_ct.keras.autolog import samples_in

    x = np.zeros((360, 8))
    assert samples_in(x) == 360
    assert samples_in([x, np.zeros((360, 2))]) == 360 and samples_in({"image": x}) == 360
    assert samples_in(iter([x])) is None and samples_in(None) is None and samples_in(np.zeros(())) is None


HELPER_FIRST = """
from keras_ct.keras.callbacks import write_metrics  # a script written for keras-ct: its helper first
import keras
import numpy as np
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(np.zeros((8, 4)), np.zeros(8), validation_split=0.25, epochs=2, verbose=0)
"""


@pytest.mark.training
def test_a_script_that_imports_keras_cts_helper_first_still_gets_the_hooks(tmp_path: Path) -> None:
    """The helper imports Keras while it is itself half imported: the hooks wait for the first fit
    instead of failing on the circular import (they were off for such scripts, bench tasks included)."""
    done = run_script("", tmp_path, code=HELPER_FIRST)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "hooks are off" not in done.stderr
    found = metrics(tmp_path)
    assert found["autolog"] is True and found["epochs"] == 2 and len(found["history"]["loss"]) == 2
    assert (tmp_path / "checkpoints" / "epochs.json").is_file()  # resume, too


OWN_METRICS = """
import json, os
import keras
import numpy as np
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(np.zeros((8, 4)), np.zeros(8), validation_split=0.25, epochs=1, verbose=0)
with open(os.environ["KERAS_CT_METRICS_FILE"], "w") as fh:
    json.dump({"schema_version": 1, "accuracy": 0.5, "mine": True}, fh)
"""


@pytest.mark.training
@pytest.mark.parametrize(
    ("code", "autolog", "written"),
    [
        pytest.param(
            OWN_METRICS, "1", {"schema_version": 1, "accuracy": 0.5, "mine": True}, id="script-writes-it"
        ),
        pytest.param(OWN_METRICS.split("with open")[0], "0", None, id="autolog-off"),
    ],
)
def test_the_script_keeps_control(
    tmp_path: Path, code: str, autolog: str, written: dict[str, Any] | None
) -> None:
    done = run_script("", tmp_path, code=code, KERAS_CT_AUTOLOG=autolog)

    assert done.returncode == 0, done.stderr[-3000:]
    if written is None:
        assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "model.keras").exists()
    else:
        assert metrics(tmp_path) == written


# Fits twice; saves its own model to keras-ct's path after the first fit (SAVE_AFTER=1) or the second (2).
SAVES_ITS_MODEL = """
import os
import keras
import numpy as np
target, after = os.environ["KERAS_CT_MODEL_PATH"], int(os.environ["SAVE_AFTER"])
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
for fit in (1, 2):
    model.fit(np.zeros((8, 4)), np.zeros(8), validation_split=0.25, epochs=1, verbose=0)
    if fit == after:
        model.save(target)
        found = os.stat(target)
        print("saved", found.st_ino, found.st_size, found.st_mtime_ns)
"""


@pytest.mark.training
@pytest.mark.parametrize(
    ("after", "kept"),
    [
        pytest.param("2", True, id="after-the-last-fit-the-script's-file-is-kept"),
        pytest.param("1", False, id="before-the-last-fit-keras-ct-saves-the-last-fit's-model"),
    ],
)
def test_the_model_is_saved_once_at_the_end_unless_the_script_saved_it_after_its_last_fit(
    tmp_path: Path, after: str, kept: bool
) -> None:
    done = run_script("", tmp_path, code=SAVES_ITS_MODEL, SAVE_AFTER=after)

    assert done.returncode == 0, done.stderr[-3000:]
    found = (tmp_path / "model.keras").stat()
    script_saved = done.stdout.split("saved", 1)[1].split()[:3]
    assert ([str(found.st_ino), str(found.st_size), str(found.st_mtime_ns)] == script_saved) is kept
    assert metrics(tmp_path)["epochs"] == 2  # both fits are the round's


@pytest.mark.training
def test_without_a_model_to_start_from_the_warm_start_rules_are_never_imported(tmp_path: Path) -> None:
    code = (
        OWN_METRICS.split("with open")[0]
        + "import sys; print('imported:', 'keras_ct.keras.warmstart' in sys.modules)\n"
    )
    done = run_script("", tmp_path, code=code)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported: False" in done.stdout  # round 1: no KERAS_CT_WARM_START_FROM
