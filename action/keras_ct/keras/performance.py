"""The fast path for training scripts: every switch auto-detected, and each one overridable to measure it.

A training script calls, in this order::

    hardware = performance.detect_hardware()
    settings = performance.decide(hardware, os.environ, steps_per_epoch=n)  # pure
    performance.apply_precision(settings)                                   # before build_model()
    with performance.scope(settings):
        model = performance.prepare_model(build_model(), settings)
    train = performance.dataset(x, y, batch_size, settings, shuffle=True, seed=seed)

The switches, their environment variables (``auto`` is the default) and what ``auto`` picks:

=========================  ===================================  ==============================================
switch                     variable, values                     auto
=========================  ===================================  ==============================================
tf.data pipeline           ``KERAS_CT_TF_DATA`` on/off          on with a GPU: ``cache``, ``shuffle``,
                                                                ``batch``, ``prefetch(AUTOTUNE)``; off on CPU
steps per execution        ``KERAS_CT_STEPS_PER_EXECUTION`` N   a small model (< 1M parameters), CPU or GPU:
                                                                ``min(32, steps per epoch)``; else 1
                                                                (same batches, same order: same numbers)
XLA                        ``KERAS_CT_JIT_COMPILE`` on/off      Keras' own ``auto`` (XLA on GPU, not on CPU)
mixed precision            ``KERAS_CT_MIXED_PRECISION``         ``float16`` on a GPU of compute capability
                           off/float16/bfloat16                 >= 7.0 (tensor cores); else off. The output
                                                                layer always computes in float32
distribution               ``KERAS_CT_DISTRIBUTE`` off/mirrored ``MirroredStrategy`` over all GPUs when there
                                                                are two or more (the batch size is global)
=========================  ===================================  ==============================================

``decide`` is a pure function of the hardware and the environment, so the rules are unit-tested
without TensorFlow; this module imports TensorFlow and Keras only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ENV = {
    "tf_data": "KERAS_CT_TF_DATA",
    "steps_per_execution": "KERAS_CT_STEPS_PER_EXECUTION",
    "jit_compile": "KERAS_CT_JIT_COMPILE",
    "mixed_precision": "KERAS_CT_MIXED_PRECISION",
    "distribute": "KERAS_CT_DISTRIBUTE",
}
#: Models below this many parameters do so little work per step that the per-step host round trip
#: dominates; running several steps per ``tf.function`` call hides it (measured on CPU here: 1.3-1.7x
#: images/s for the ml_task CNN, identical accuracy; bench/RESULTS.md).
SMALL_MODEL_PARAMS = 1_000_000
MAX_STEPS_PER_EXECUTION = 32
MIXED_PRECISION_MIN_CC = (7, 0)
_ON = ("on", "true", "1", "yes")
_OFF = ("off", "false", "0", "no")
_PRECISIONS = {"off": "off", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


class PerformanceSettingError(ValueError):
    """A KERAS_CT_* performance variable with a value that is not allowed; the message says which."""


@dataclass(frozen=True)
class GPU:
    name: str
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class Hardware:
    gpus: tuple[GPU, ...] = ()

    def describe(self) -> str:
        if not self.gpus:
            return "CPU only"
        names = ", ".join(
            g.name
            + (f" (cc {g.compute_capability[0]}.{g.compute_capability[1]})" if g.compute_capability else "")
            for g in self.gpus
        )
        return f"{len(self.gpus)} GPU: {names}"


@dataclass(frozen=True)
class Settings:
    """The resolved switches; ``why`` says for each one whether it was auto-detected or set, and why."""

    tf_data: bool = False
    steps_per_execution: int = 1
    jit_compile: bool | str = "auto"  # True, False, or "auto" (Keras decides: XLA on GPU only)
    mixed_precision: str = "off"  # off | mixed_float16 | mixed_bfloat16
    distribute: str = "off"  # off | mirrored
    why: Mapping[str, str] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "tf_data": self.tf_data,
            "steps_per_execution": self.steps_per_execution,
            "jit_compile": self.jit_compile,
            "mixed_precision": self.mixed_precision,
            "distribute": self.distribute,
            "why": dict(self.why),
        }


def _raw(environ: Mapping[str, str], key: str) -> str:
    return environ.get(ENV[key], "").strip().lower() or "auto"


def _bad(key: str, value: str, allowed: str) -> PerformanceSettingError:
    return PerformanceSettingError(f'{ENV[key]} must be {allowed}, got "{value}"')


def _switch(environ: Mapping[str, str], key: str) -> bool | None:
    value = _raw(environ, key)
    if value == "auto":
        return None
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise _bad(key, value, "auto, on or off")


def decide(
    hardware: Hardware,
    environ: Mapping[str, str],
    *,
    params: int | None = None,
    steps_per_epoch: int | None = None,
) -> Settings:
    """Resolve every switch from the hardware, overridden by the KERAS_CT_* variables in ``environ``."""
    why: dict[str, str] = {}
    tf_data, why["tf_data"] = _tf_data(hardware, environ)
    spe, why["steps_per_execution"] = _steps_per_execution(environ, params, steps_per_epoch)
    jit_compile, why["jit_compile"] = _jit_compile(environ)
    precision, why["mixed_precision"] = _mixed_precision(hardware, environ)
    distribute, why["distribute"] = _distribute(hardware, environ)
    return Settings(tf_data, spe, jit_compile, precision, distribute, why)


def _tf_data(hardware: Hardware, environ: Mapping[str, str]) -> tuple[bool, str]:
    tf_data = _switch(environ, "tf_data")
    if tf_data is None:
        gpu = bool(hardware.gpus)
        return gpu, "auto: a GPU is present" if gpu else "auto: CPU only, Keras' array path"
    return tf_data, f"{ENV['tf_data']}={'on' if tf_data else 'off'}"


def _steps_per_execution(
    environ: Mapping[str, str], params: int | None, steps_per_epoch: int | None
) -> tuple[int, str]:
    raw = _raw(environ, "steps_per_execution")
    if raw == "auto":
        if params is None or params < SMALL_MODEL_PARAMS:
            spe = max(1, min(MAX_STEPS_PER_EXECUTION, steps_per_epoch or MAX_STEPS_PER_EXECUTION))
            return spe, f"auto: a small model, {spe} steps per call"
        return 1, "auto: a large model, one step per call"
    if not raw.isdigit() or int(raw) < 1:
        raise _bad("steps_per_execution", raw, "auto or a whole number of at least 1")
    return int(raw), f"{ENV['steps_per_execution']}={int(raw)}"


def _jit_compile(environ: Mapping[str, str]) -> tuple[bool | str, str]:
    jit = _switch(environ, "jit_compile")
    if jit is None:
        return "auto", "auto: Keras decides (XLA on GPU, not on CPU)"
    return jit, f"{ENV['jit_compile']}={'on' if jit else 'off'}"


def _mixed_precision(hardware: Hardware, environ: Mapping[str, str]) -> tuple[str, str]:
    raw = _raw(environ, "mixed_precision")
    if raw == "auto":
        capable = [
            g
            for g in hardware.gpus
            if g.compute_capability and g.compute_capability >= MIXED_PRECISION_MIN_CC
        ]
        if hardware.gpus and len(capable) == len(hardware.gpus):
            return "mixed_float16", "auto: every GPU has compute capability >= 7.0 (tensor cores)"
        return "off", "auto: " + ("a GPU below compute capability 7.0" if hardware.gpus else "CPU only")
    if raw in _PRECISIONS or raw in _OFF:
        return _PRECISIONS.get(raw, "off"), f"{ENV['mixed_precision']}={raw}"
    raise _bad("mixed_precision", raw, "auto, off, float16 or bfloat16")


def _distribute(hardware: Hardware, environ: Mapping[str, str]) -> tuple[str, str]:
    raw = _raw(environ, "distribute")
    if raw == "auto":
        return "mirrored" if len(hardware.gpus) > 1 else "off", f"auto: {len(hardware.gpus)} GPU(s)"
    if raw in ("mirrored", "off") or raw in _OFF:
        return "mirrored" if raw == "mirrored" else "off", f"{ENV['distribute']}={raw}"
    raise _bad("distribute", raw, "auto, off or mirrored")


# -- the edges: TensorFlow from here on ----------------------------------------------------------------


def detect_hardware() -> Hardware:
    """The visible GPUs and their compute capability (TensorFlow's view)."""
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        cc = details.get("compute_capability")
        gpus.append(GPU(details.get("device_name", device.name), (int(cc[0]), int(cc[1])) if cc else None))
    return Hardware(tuple(gpus))


def apply_precision(settings: Settings) -> None:
    """Set the global dtype policy; must run before the model is built."""
    import keras

    keras.mixed_precision.set_global_policy(
        "float32" if settings.mixed_precision == "off" else settings.mixed_precision
    )


@contextlib.contextmanager
def scope(settings: Settings) -> Iterator[Any]:
    """Build and compile the model inside this: the ``MirroredStrategy`` scope when distributing."""
    if settings.distribute != "mirrored":
        yield None
        return
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        yield strategy


def prepare_model(model: Any, settings: Settings, log: Any = None) -> Any:
    """Apply the compile-time switches; under mixed precision make the output layer compute in float32.

    The model comes compiled from ``build_model()``; it is recompiled from its own compile config with
    ``steps_per_execution`` and ``jit_compile`` set, so the user's optimizer, loss and metrics stay.
    """
    import sys

    out = log or sys.stderr
    if settings.mixed_precision != "off":
        model = _float32_output(model, out)
    if settings.steps_per_execution == 1 and settings.jit_compile == "auto":
        return model
    config = model.get_compile_config() if getattr(model, "compiled", False) else None
    if not config:
        print(
            "keras-ct: warning: the model is not compiled from a config; steps_per_execution and "
            "jit_compile stay as build_model() set them",
            file=out,
        )
        return model
    config = dict(config)
    config["steps_per_execution"] = settings.steps_per_execution
    config["jit_compile"] = settings.jit_compile
    model.compile_from_config(config)
    return model


def _float32_output(model: Any, out: Any) -> Any:
    import keras

    if len(model.outputs) != 1:
        print(
            "keras-ct: warning: a model with several outputs keeps its output dtypes under mixed precision",
            file=out,
        )
        return model
    last = model.layers[-1]
    if last.dtype_policy.compute_dtype == "float32":
        return model

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if layer is last:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    try:
        new = keras.models.clone_model(model, clone_function=clone)
    except Exception as exc:  # subclassed models cannot be cloned
        print(
            f"keras-ct: warning: the output layer stays in {last.dtype_policy.compute_dtype} under mixed "
            f"precision (the model cannot be cloned: {exc})",
            file=out,
        )
        return model
    if getattr(model, "compiled", False) and model.get_compile_config():
        new.compile_from_config(model.get_compile_config())
    return new


def epoch_timer() -> Any:
    """A callback keeping the wall seconds of every epoch (``.seconds``): images/s without the first epoch."""
    import time

    from keras_ct.keras.bases import Callback

    class EpochTimer(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._begin = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._begin = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._begin)

    return EpochTimer()


def dataset(x: Any, y: Any, batch_size: int, settings: Settings, *, shuffle: bool, seed: int) -> Any:
    """``(x, y)`` as a cached, shuffled, batched, prefetched ``tf.data.Dataset``; the arrays when off."""
    if not settings.tf_data:
        return None
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


__all__ = [
    "ENV",
    "GPU",
    "Hardware",
    "PerformanceSettingError",
    "Settings",
    "apply_precision",
    "dataset",
    "decide",
    "detect_hardware",
    "epoch_timer",
    "prepare_model",
    "scope",
]
