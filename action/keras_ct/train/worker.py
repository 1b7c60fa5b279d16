"""A long-lived training process: runs the train script once per round, importing TensorFlow once.

keras-ct starts this file with the model's interpreter (``python .../worker.py``) when a job
runs several rounds (``rounds-per-job`` > 1, ``keras-ct loop``) and ``reuse-training-process`` is on.
It must stay standard-library only and must not import keras_ct: it runs in the model's environment.

Protocol (one round at a time): keras-ct writes one JSON line to stdin,
``{"argv": [script, *args] | ["-m", module, *args], "env": {...}, "cwd": "...", "token": "..."}``;
the worker runs the script as ``__main__`` with that ``sys.argv``, environment and directory, its
output going to stdout/stderr as a fresh process's would, then prints ``<token> exit=<code>`` on a
line of its own. After a non-zero exit the worker ends: the next round gets a fresh process.
Before the end marker, every process the run left (a background child, a detached daemon) is ended
and reaped: the worker is a child subreaper (``reaper.py``), so they are all below it.

Between rounds the user's own modules (anything imported from the working directory or the script's
directory) are dropped from ``sys.modules``, so a changed model file is read again; libraries stay
imported. Keras' global state (layer name counters, the graph) is reset with ``clear_session()``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import runpy
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

HERE = str(Path(__file__).resolve().parent)
PACKAGE = os.path.dirname(HERE)
#: keras-ct's hooks (``hooks/sitecustomize.py``) import it once the script imports Keras.
AUTOLOG = "keras_ct.keras.autolog"


def _load_reaper() -> Any:
    """keras-ct's ``reaper.py`` beside this file, loaded by path (never as part of keras_ct)."""
    spec = importlib.util.spec_from_file_location("_keras_ct_reaper", os.path.join(HERE, "reaper.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _own_modules(roots: list[str]) -> list[str]:
    """Modules loaded from files under ``roots`` (the user's code, not site-packages inside them)."""
    names = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        resolved = os.path.realpath(path)
        if "site-packages" in resolved or "dist-packages" in resolved:
            continue
        if resolved.startswith(PACKAGE + os.sep):
            continue  # keras-ct's own (its hooks keep the round's state there), even in its own checkout
        if any(resolved.startswith(root + os.sep) for root in roots):
            names.append(name)
    return names


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_one(request: dict[str, Any]) -> int:
    """Run one request (``{"argv", "cwd", "env", "token"}``, as JSON from keras-ct) in this process."""
    argv = [str(a) for a in request["argv"]]
    cwd = str(request["cwd"])
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    module = argv[1] if argv[0] == "-m" else None
    script = None if module else os.path.realpath(argv[0])
    roots = [os.path.realpath(cwd)] + ([os.path.dirname(script)] if script else [])
    for name in _own_modules(roots):
        del sys.modules[name]
    importlib.invalidate_caches()  # files the augmenter added since the last round
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    sys.argv = argv[1:] if module else argv
    if script is not None and not os.path.isfile(script):
        print(
            f"{sys.executable}: can't open file {argv[0]!r}: [Errno 2] No such file or directory",
            file=sys.stderr,
        )
        return 2  # as python itself says and exits
    sys.path.insert(0, os.path.dirname(script) if script else cwd)
    stdin, sys.stdin = sys.stdin, open(os.devnull)  # noqa: SIM115 - the requests pipe is not the script's
    try:
        with warnings.catch_warnings():  # a run's warning filters do not outlive it
            if script is None:
                runpy.run_module(str(module), run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # the script's own error: report it as python would, exit 1
        traceback.print_exc()
        code = 1
    finally:
        sys.path.pop(0)
        sys.stdin.close()
        sys.stdin = stdin
    return code


def _finish_autolog(code: int) -> int:
    """The end of the script for keras-ct's hooks (``keras_ct.keras.autolog``, when the hooks loaded it):
    a fresh process writes the metrics file at exit; this one lives on, so it is written here."""
    autolog = sys.modules.get(AUTOLOG)
    if autolog is None:
        return code
    try:
        autolog.finish()
    except Exception:  # the hooks could not write the metrics file: the round failed, as a script's would
        traceback.print_exc()
        return code or 1
    return code


def main() -> int:
    if sys.path and os.path.realpath(sys.path[0]) == HERE:
        sys.path.pop(0)  # never import keras_ct's own files as top-level modules
    reaper = _load_reaper()
    reaper.become_subreaper()
    requests = sys.stdin
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        code = _finish_autolog(run_one(request))
        reaper.end_descendants()  # what the run left, not the worker itself
        sys.stdout.flush()
        sys.stderr.flush()
        # keras-ct finds the token even at the end of a last output line that had no newline.
        sys.stdout.write(f"{request['token']} exit={code}\n")
        sys.stdout.flush()
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
