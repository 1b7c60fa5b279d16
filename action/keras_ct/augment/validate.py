"""Proof before writing: build candidate model sources in a subprocess of the model's own Python.

The candidates are written to a temporary directory outside the repository (the real model file is
never touched), imported one after the other in **one** subprocess (so the ~6 s TensorFlow import is
paid once), and each model function is called; a model that is not built yet is built with the real
input shape. Each candidate gets a ``BuildResult``: its parameter count and layer summary, or the reason
it failed (the exception's own words, e.g. ``Computed output size would be zero or negative``).
keras-ct itself never imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from keras_ct.config import DEFAULT_MODEL_FUNCTION
from keras_ct.errors import AugmentError
from keras_ct.python_source import SourceEncodingError, encode_source
from keras_ct.train import processes
from keras_ct.train.childenv import repository_env

# TensorFlow's C++ (absl) log lines, which TF_CPP_MIN_LOG_LEVEL does not silence at start-up.
_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d|WARNING: All log messages before absl)")


@dataclass(frozen=True)
class BuildRequest:
    """One candidate: the source to build, standing in for the real file ``path`` (never written)."""

    path: Path
    source: str
    model_function: str = DEFAULT_MODEL_FUNCTION
    input_shape: tuple[int, ...] | None = None
    label: str = ""
    shown: str = ""  # how messages name the file (default: ``path``)


@dataclass(frozen=True)
class LayerInfo:
    name: str
    cls: str
    output_shape: str
    params: int


@dataclass(frozen=True)
class BuildResult:
    """What building one candidate gave: ``ok`` with ``params`` and ``layers``, or ``error`` (one line)."""

    label: str
    ok: bool
    params: int | None = None
    layers: tuple[LayerInfo, ...] = ()
    error: str = ""

    def summary(self) -> str:
        """A short text table of the layers, like ``model.summary()`` without the box drawing."""
        if not self.ok:
            return f"does not build: {self.error}"
        rows = [f"{layer.cls:<24} {layer.output_shape:<20} {layer.params:>10,}" for layer in self.layers]
        return "\n".join([*rows, f"{'total':<45} {self.params or 0:>10,}"])


# The script the subprocess runs. It must work with any Python 3.9+ that has Keras installed, and keep its
# own output off the results file: models may print, TensorFlow logs to stderr.
_SCRIPT = r"""
import importlib.util, json, re, sys, traceback, warnings

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOISE = ("Exception encountered when calling", "Arguments received by", "\u2022", "Traceback", "File ")


def reason(exc, request):
    lines = [ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith(NOISE)]
    text = lines[0] if lines else ""
    text = type(exc).__name__ + (": " + text if text else "")
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == request["file"]:
            where = " (%s:%d)" % (request["path"], frame.lineno)
    if len(text) > 300:
        text = text[:297] + "..."
    return text + where


def shape_text(layer):
    try:
        return str(tuple(layer.output.shape))
    except Exception:
        return "?"


def check(request):
    result = {"label": request["label"], "ok": False}
    if request["model_dir"] not in sys.path:
        sys.path.insert(0, request["model_dir"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = importlib.util.spec_from_file_location(request["module"], request["file"])
            module = importlib.util.module_from_spec(spec)
            sys.modules[request["module"]] = module
            spec.loader.exec_module(module)
            function = getattr(module, request["model_function"], None)
            if not callable(function):
                result["error"] = "%s has no function %s()" % (request["path"], request["model_function"])
                return result
            model = function()
            if not hasattr(model, "count_params"):
                result["error"] = "%s() returned %s, not a Keras model" % (
                    request["model_function"], type(model).__name__)
                return result
            shape = request["input_shape"]
            if not model.built:
                if shape is None:
                    result["error"] = ("the model is not built and its input shape is unknown: add "
                                       "keras.Input(shape=...) or set input-shape")
                    return result
                model.build((None,) + tuple(shape))
            elif shape is not None and len(getattr(model, "inputs", None) or ()) == 1:
                declared = tuple(model.inputs[0].shape)[1:]
                if len(declared) != len(shape) or any(
                        d is not None and d != s for d, s in zip(declared, shape)):
                    result["error"] = "the model expects inputs of shape %s but input-shape is %s" % (
                        declared, tuple(shape))
                    return result
            result["params"] = int(model.count_params())
            result["layers"] = [
                {"name": layer.name, "cls": type(layer).__name__, "output_shape": shape_text(layer),
                 "params": int(layer.count_params()) if layer.built else 0}
                for layer in model.layers
            ]
            result["ok"] = True
    except BaseException as exc:  # the candidate's own failure, whatever it is
        result["error"] = reason(exc, request)
    finally:
        sys.modules.pop(request["module"], None)
        keras = sys.modules.get("keras")
        if keras is not None:
            try:
                keras.backend.clear_session()
            except Exception:
                pass
    return result


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    with open(spec["results"], "a", encoding="utf-8") as out:
        for request in spec["requests"]:
            out.write(json.dumps(check(request)) + "\n")
            out.flush()


main()
"""


class ScriptRunner(Protocol):
    """Runs ``python script args`` and returns (exit code, output); ``subprocess.TimeoutExpired`` past
    ``timeout_s``. ``keras_ct.train.trainer.ReusedTrainer.run_script`` runs it in the job's warm process."""

    def __call__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None, timeout_s: float
    ) -> tuple[int, str]: ...


def validate_builds(
    requests: Sequence[BuildRequest],
    *,
    python: str = sys.executable,
    cwd: Path | None = None,
    timeout_s: float = 300,
    run_script: ScriptRunner | None = None,
    env: Mapping[str, str] | None = None,
) -> list[BuildResult]:
    """Build every request in one subprocess of ``python``; one ``BuildResult`` per request, in order.

    A candidate that crashes the interpreter outright is reported as failed and the rest continue in a
    fresh process. Raises ``AugmentError`` only when ``python`` cannot be started at all.
    ``run_script`` runs the build script instead of a new subprocess (a reused training process, where
    TensorFlow is already imported). ``env``: the environment of a process that runs the repository's
    code (``keras_ct.train.childenv.repository_env``; default: the allow-listed part of this process's).
    """
    if not requests:
        return []
    base = repository_env(os.environ) if env is None else env
    results: list[BuildResult] = []
    with tempfile.TemporaryDirectory(prefix="keras-ct-validate-") as tmp:
        folder = Path(tmp)
        script = folder / "keras_ct_validate.py"
        script.write_text(_SCRIPT, encoding="utf-8")
        payload: list[dict[str, object]] = []
        for i, request in enumerate(requests):
            file = folder / f"candidate_{i}_{request.path.stem}.py"
            try:  # in the encoding its coding line declares, as the model file is written
                file.write_bytes(encode_source(request.source))
            except SourceEncodingError as exc:
                shown = request.shown or str(request.path)
                raise AugmentError(f"{shown}: {exc}", file=shown) from None
            payload.append(
                {
                    "label": request.label or f"candidate {i}",
                    "file": str(file),
                    "module": f"_keras_ct_candidate_{i}_{request.path.stem}",
                    "path": request.shown or str(request.path),
                    "model_dir": str(request.path.resolve().parent),
                    "model_function": request.model_function,
                    "input_shape": list(request.input_shape) if request.input_shape else None,
                }
            )
        while len(results) < len(payload):
            results.extend(
                _run_batch(
                    payload[len(results) :], folder, python, cwd, timeout_s, len(results), run_script, base
                )
            )
    return results


def _run_batch(
    payload: list[dict[str, object]],
    folder: Path,
    python: str,
    cwd: Path | None,
    timeout_s: float,
    offset: int,
    run_script: ScriptRunner | None = None,
    base_env: Mapping[str, str] | None = None,
) -> list[BuildResult]:
    spec_file = folder / f"spec_{offset}.json"
    results_file = folder / f"results_{offset}.jsonl"
    spec_file.write_text(json.dumps({"requests": payload, "results": str(results_file)}), encoding="utf-8")
    env = dict(repository_env(os.environ) if base_env is None else base_env)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONWARNINGS="ignore",
        CUDA_VISIBLE_DEVICES="",  # building needs no GPU; skip CUDA start-up on GPU runners
    )
    argv = [python, str(folder / "keras_ct_validate.py"), str(spec_file)]
    failure, timed_out = _run_script(argv, env, cwd, timeout_s, run_script)
    done = _read_results(results_file)
    if len(done) < len(payload):
        # The process died or hung on this candidate. After a crash the rest get a fresh process; after a
        # timeout they are not tried again (each could take as long).
        rest = payload[len(done) :] if timed_out else payload[len(done) : len(done) + 1]
        reason = failure or "the validation process gave no result"
        done.extend(BuildResult(label=str(item["label"]), ok=False, error=reason) for item in rest)
    return done


def _run_script(
    argv: list[str],
    env: Mapping[str, str],
    cwd: Path | None,
    timeout_s: float,
    run_script: ScriptRunner | None,
) -> tuple[str, bool]:
    """Run the build script: (why it failed, "" when it exited 0; whether it timed out)."""
    python = argv[0]
    try:
        if run_script is not None:
            returncode, stderr = run_script(argv, env, cwd, timeout_s)
        else:
            returncode, _, stderr = processes.run(argv, cwd=cwd, env=env, timeout_s=timeout_s)
    except FileNotFoundError:
        raise AugmentError(
            f"cannot run the model environment's python {python!r}: not found; set python to the interpreter "
            "that has Keras installed"
        ) from None
    except PermissionError:
        raise AugmentError(
            f"cannot run the model environment's python {python!r}: permission denied"
        ) from None
    except subprocess.TimeoutExpired:
        return f"building the model took longer than {timeout_s:g} s", True
    if returncode == 0:
        return "", False
    tail = [line for line in stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
    failure = f"the validation process exited with code {returncode}" + (
        f": {tail[-1].strip()}" if tail else ""
    )
    return failure, False


def _read_results(results_file: Path) -> list[BuildResult]:
    """The results the build script wrote, one JSON line per candidate it finished."""
    done: list[BuildResult] = []
    if results_file.exists():
        for line in results_file.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            done.append(
                BuildResult(
                    label=data["label"],
                    ok=bool(data["ok"]),
                    params=data.get("params"),
                    layers=tuple(LayerInfo(**layer) for layer in data.get("layers", ())),
                    error=data.get("error", ""),
                )
            )
    return done


def validate_build(
    path: Path,
    new_source: str,
    *,
    model_function: str = DEFAULT_MODEL_FUNCTION,
    python: str = sys.executable,
    input_shape: tuple[int, ...] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 300,
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build one candidate source for the model file ``path`` (which is not touched)."""
    request = BuildRequest(
        path=path, source=new_source, model_function=model_function, input_shape=input_shape
    )
    return validate_builds([request], python=python, cwd=cwd, timeout_s=timeout_s, env=env)[0]
