"""The model's environment, cached between jobs (stdlib only; action.yml runs it with keras-ct's python).

A virtual environment is not relocatable: it lives at one fixed path per key, under the runner's
tool cache, and actions/cache saves and restores that path. The key is what the environment is
made of: the requirements file's bytes, the base interpreter (version and prefix) and the runner's
OS and architecture. A restored copy is used only when it still works (its interpreter runs, the
install finished); anything else is rebuilt, with a note saying why.

    python -m keras_ct.train.modelenv key --requirements FILE --base-python PY --root DIR
    python -m keras_ct.train.modelenv prepare --requirements FILE --base-python PY --dir DIR --key KEY
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

# Bump when the environment's layout or the way it is built changes: old caches stop matching.
FORMAT = "v1"
# Written last, holding the key: an environment without it never finished installing.
MARKER = ".keras-ct-env"
PROBE = "import sys; print(sys.version.split()[0], sys.base_prefix)"


def cache_key(requirements: bytes, python: str, system: str, machine: str) -> str:
    """The actions/cache key: ``python`` is the base interpreter's ``version prefix`` (PROBE's line)."""
    digest = hashlib.sha256(requirements).hexdigest()[:16]
    version, _, prefix = python.partition(" ")
    where = hashlib.sha256(prefix.encode()).hexdigest()[:8]
    return f"keras-ct-model-env-{FORMAT}-{system}-{machine}-py{version}-{where}-{digest}".lower()


def probe(python: str | Path) -> str | None:
    """The interpreter's PROBE line, or None when it does not run."""
    try:
        done = subprocess.run(
            [str(python), "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def stale_reason(env_dir: Path, key: str) -> str | None:
    """Why the environment in ``env_dir`` cannot be used as it is; None when it can."""
    config = env_dir / "pyvenv.cfg"
    if not config.is_file():
        return None if not env_dir.exists() else f"{config} is missing"
    lines = config.read_text(encoding="utf-8").splitlines()
    home = next((v.strip() for k, _, v in (ln.partition("=") for ln in lines) if k.strip() == "home"), "")
    if home and not Path(home).is_dir():
        return f"the python it was made from ({home}) no longer exists"
    if probe(env_dir / "bin" / "python") is None:
        return f"its interpreter {env_dir / 'bin' / 'python'} does not run"
    marker = env_dir / MARKER
    if not marker.is_file() or marker.read_text(encoding="utf-8").strip() != key:
        return "its install did not finish"
    return None


def build(env_dir: Path, base_python: str, requirements: Path, key: str) -> None:
    """Make the environment (it sees the system packages) and install the requirements into it."""
    shutil.rmtree(env_dir, ignore_errors=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    python = str(env_dir / "bin" / "python")
    if uv:
        run([uv, "venv", "--quiet", "--system-site-packages", "--python", base_python, str(env_dir)])
        run([uv, "pip", "install", "--python", python, "-r", str(requirements)])
    else:
        run([base_python, "-m", "venv", "--system-site-packages", str(env_dir)])
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        run([*pip, "-r", str(requirements)])
    (env_dir / MARKER).write_text(key + "\n", encoding="utf-8")


def run(argv: list[str]) -> None:
    print(f"$ {' '.join(argv)}", flush=True)
    subprocess.run(argv, check=True)


def prepare(env_dir: Path, base_python: str, requirements: Path, key: str) -> str:
    """Use the restored environment when it works, else (re)build it; return what happened."""
    reason = stale_reason(env_dir, key)
    if env_dir.exists() and reason is None:
        return f"The model's environment {env_dir} was restored from the cache and works"
    if reason is not None:
        print(
            f"::notice title=keras-ct rebuilds the model's environment::The cached environment in "
            f"{env_dir} is not usable ({reason}); it is rebuilt from {requirements}.",
            flush=True,
        )
    build(env_dir, base_python, requirements, key)
    return f"The model's environment {env_dir} was built from {requirements}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_ct.train.modelenv")
    parser.add_argument("command", choices=["key", "prepare"])
    parser.add_argument("--requirements", type=Path, required=True)
    parser.add_argument("--base-python", required=True)
    parser.add_argument("--root", type=Path, help="key: the folder the environments live in")
    parser.add_argument("--dir", type=Path, help="prepare: the environment's folder")
    parser.add_argument("--key", help="prepare: the key from `key`")
    args = parser.parse_args(argv)
    if args.command == "key":
        line = probe(args.base_python)
        if line is None or args.root is None:
            parser.error(f"{args.base_python} does not run" if line is None else "key needs --root")
        key = cache_key(args.requirements.read_bytes(), line, platform.system(), platform.machine())
        env_dir = args.root / key
        # present: a persistent (self-hosted) runner kept it from an earlier job: no restore needed.
        present = env_dir.exists() and stale_reason(env_dir, key) is None
        print(f"key={key}\ndir={env_dir}\npresent={str(present).lower()}")
        return 0
    if args.dir is None or not args.key:
        parser.error("prepare needs --dir and --key")
    print(prepare(args.dir, args.base_python, args.requirements, args.key), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
