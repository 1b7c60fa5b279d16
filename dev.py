#!/usr/bin/env python3
"""Set up and run keras-ct from a fresh clone, with nothing but Python 3.11+ and git.

    python3 dev.py demo    # venv + installs, then the continuous-training loop on the bundled ml_task (offline)
    python3 dev.py test    # venv + installs, then the whole test suite (what CI runs)
    python3 dev.py setup   # only the venv and installs

The virtual environment lives in .venv; installs are skipped while pyproject.toml is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".keras-ct-installed"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*argv: str | Path, **kwargs: object) -> None:
    subprocess.run([str(a) for a in argv], check=True, **kwargs)  # type: ignore[call-overload]


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 -- dev.py runs under whatever python3 the user has
        sys.exit(f"keras-ct needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        say(f"creating {VENV.relative_to(ROOT)}")
        run(sys.executable, "-m", "venv", VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        say("installing keras-ct with its dev and cpu extras (TensorFlow: about a minute)")
        run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(PY, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev,cpu]")
        STAMP.write_text(wanted)
    run(PY, ROOT / "tools" / "fetch_openapi.py")


def demo() -> int:
    """The bundled ml_task, copied aside, through the loop: it starts below the threshold."""
    work = ROOT / ".keras-ct" / "demo"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(
        ROOT / "ml_task", work / "ml_task", ignore=shutil.ignore_patterns("*.keras", "__pycache__")
    )
    env = {**os.environ, "KERAS_HOME": str(ROOT / ".keras-ct" / "keras-home")}
    env.pop("GITHUB_ACTIONS", None)
    say(f"running the loop in {work.relative_to(ROOT)} (the repository's ml_task is left as it is)")
    argv = [
        BIN / "keras-ct", "loop",
        "--working-directory", work,
        "--train-command", "python ml_task/train.py --dataset digits",
        "--threshold", "0.955",
        "--max-rounds", "4",
        "--python", PY,
    ]  # fmt: skip
    return subprocess.run([str(a) for a in argv], env=env).returncode


def test(extra: list[str]) -> int:
    env = {**os.environ, "KERAS_HOME": str(ROOT / ".keras-ct" / "keras-home")}
    return subprocess.run([str(PY), "-m", "pytest", *extra], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("setup", "demo", "test"):
        print(__doc__)
        return 2
    setup()
    if argv[0] == "demo":
        return demo()
    if argv[0] == "test":
        return test(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
