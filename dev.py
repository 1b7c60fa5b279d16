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
    setup_renderer()


#: What tests/test_render_comment.py renders the PR comment with: Debian's chromium (and an emoji font),
#: and the npm packages pinned in tools/render/package-lock.json.
RENDER_APT = ("chromium", "fonts-noto-color-emoji")
RENDER_NPM = ROOT / "tools" / "render"


def setup_renderer() -> None:
    """Install the comment renderer's parts where this machine can: apt-get as root (or with
    passwordless sudo), ``npm ci`` when npm is there. What cannot be installed is said, not fatal:
    the render tests then skip (and fail under .ci/run, which sets KERAS_CT_REQUIRE_RENDER)."""
    if not shutil.which("chromium") and shutil.which("apt-get") and hasattr(os, "geteuid"):
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"] if shutil.which("sudo") else None
        if sudo is None:
            say(
                "chromium is missing and this is not root: apt-get install -y chromium (the comment renderer)"
            )
        else:
            say("installing chromium for the comment renderer (apt-get)")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            run(*sudo, "apt-get", "update", "-qq", env=env)
            run(*sudo, "apt-get", "install", "-y", "-qq", *RENDER_APT, env=env)
    lock = RENDER_NPM / "package-lock.json"
    stamp = RENDER_NPM / "node_modules" / ".keras-ct-installed"
    if not shutil.which("npm"):
        say("npm is missing: install Node.js 18+ for the comment renderer (tools/render)")
    elif not stamp.exists() or stamp.read_text() != hashlib.sha256(lock.read_bytes()).hexdigest():
        say("installing the comment renderer's npm packages (npm ci in tools/render)")
        run("npm", "ci", "--no-audit", "--no-fund", "--prefix", RENDER_NPM)
        stamp.write_text(hashlib.sha256(lock.read_bytes()).hexdigest())


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
