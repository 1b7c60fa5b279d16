"""keras-ct's hooks in the training process: patch ``keras.Model.fit``/``evaluate`` when Keras is imported.

keras-ct puts this file's folder first on the train command's ``PYTHONPATH`` (``autolog`` on, the
default), so Python imports it at start-up as ``sitecustomize``. It then:

1. runs the ``sitecustomize`` it shadows (the next one on ``sys.path``: a virtualenv's, Debian's), as
   Python would have;
2. puts a finder on ``sys.meta_path`` that waits for ``import keras`` (``tf.keras`` imports it too) and,
   once Keras is loaded, installs ``keras_ct.keras.autolog``: curves, resume, warm start, the saved model
   and the metrics file for a script that never imports keras_ct. A script that never imports Keras
   never loads Keras or TensorFlow through this file.

Standard library only, and nothing from keras_ct until Keras is imported: it runs in every Python process
the training starts, the reused training process (``train/worker.py``) included.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

HERE = os.path.dirname(os.path.realpath(__file__))


def _chain() -> None:
    """Run the ``sitecustomize`` this one shadows, if there is one."""
    others = [p for p in sys.path if os.path.realpath(p or os.curdir) != HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_keras_ct_shadowed_sitecustomize"] = module
    spec.loader.exec_module(module)


#: The ``keras.Model`` methods ``keras_ct.keras.autolog`` patches (its ``STEPS``).
_STEPS = ("fit", "evaluate")


def _install() -> None:
    """Keras is loaded: patch it (``keras_ct`` is on the path: keras-ct puts its package root there).

    A Keras the hooks cannot patch (a stand-in module, a Keras without ``keras.callbacks``) never breaks
    the script's ``import keras``: one line on stderr says the hooks are off and why, and the round then
    needs the script's own metrics file (keras-ct says so by name if it is missing)."""
    if _initializing("keras_ct"):
        _install_at_first_step()
    else:
        _patch()


def _patch() -> None:
    try:
        from keras_ct.keras import autolog

        autolog.install()
    except Exception as exc:  # any failure to patch leaves the user's Keras as it was
        print(
            f"keras-ct: the autolog hooks are off: this Keras could not be patched ({type(exc).__name__}: "
            f"{exc}); the script must write $KERAS_CT_METRICS_FILE itself, or set autolog: false",
            file=sys.stderr,
        )


def _initializing(package: str) -> bool:
    """True while a module of ``package`` is still running its own imports: the script imported one of
    keras-ct's helpers (``keras_ct.keras.callbacks``), which is what imports Keras. Patching now would
    import that half-made module again (a circular import)."""
    return any(
        (name == package or name.startswith(package + "."))
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )


def _install_at_first_step() -> None:
    """Install the hooks at the script's first ``fit`` or ``evaluate`` instead (its imports are done by
    then): a one-shot stand-in for each method puts Keras' own back, installs, and calls the patched one."""
    model = getattr(sys.modules["keras"], "Model", None)
    if not isinstance(model, type):
        _patch()  # not a Keras it can patch: it says so now
        return
    own = {name: model.__dict__[name] for name in _STEPS if name in model.__dict__}

    def first(name: str) -> object:
        def step(self: object, *args: object, **kwargs: object) -> object:
            for each in _STEPS:
                if each in own:
                    setattr(model, each, own[each])
                elif each in model.__dict__:
                    delattr(model, each)  # inherited again, as it was
            _patch()
            return getattr(self, name)(*args, **kwargs)

        return step

    for name in _STEPS:
        setattr(model, name, first(name))


def _find(
    finder: object, fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> importlib.machinery.ModuleSpec | None:
    find_spec = getattr(finder, "find_spec", None)
    spec = find_spec(fullname, path, target) if find_spec is not None else None
    return spec if isinstance(spec, importlib.machinery.ModuleSpec) else None


class KerasFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for ``keras`` it asks the finders after it, and wraps the loader of what they
    found so that the hooks are installed right after Keras has loaded. (A spec can be asked for without
    loading it: TensorFlow's ``find_spec("keras")``; the finder stays until Keras is loaded.)"""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras" or self not in sys.meta_path:
            return None
        at = sys.meta_path.index(self)
        spec = next(
            (s for f in sys.meta_path[at + 1 :] if (s := _find(f, fullname, path, target)) is not None), None
        )
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        load = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _install()

        setattr(loader, "exec_module", exec_module)  # noqa: B010 - an instance attribute shadows the method
        return spec


_chain()
if "keras" in sys.modules:
    _install()
else:
    sys.meta_path.insert(0, KerasFinder())
