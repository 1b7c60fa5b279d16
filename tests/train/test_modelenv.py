"""The model's environment cached between jobs (keras_ct.train.modelenv) and keras-ct's pinned constraints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from keras_ct.train import modelenv

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "action" / "constraints.txt"
MODULE = [sys.executable, "-m", "keras_ct.train.modelenv"]
BASE = f"{sys.version.split()[0]} {sys.base_prefix}"


def test_cache_key_is_made_of_requirements_python_and_runner() -> None:
    key = modelenv.cache_key(b"tensorflow>=2.16\n", BASE, "Linux", "x86_64")
    assert key == modelenv.cache_key(b"tensorflow>=2.16\n", BASE, "Linux", "x86_64")
    assert re.fullmatch(r"keras-ct-model-env-v1-linux-x86_64-py3\.\d+\.\d+-[0-9a-f]{8}-[0-9a-f]{16}", key)
    changed = [
        modelenv.cache_key(b"tensorflow>=2.17\n", BASE, "Linux", "x86_64"),
        modelenv.cache_key(b"tensorflow>=2.16\n", "3.99.0 " + sys.base_prefix, "Linux", "x86_64"),
        modelenv.cache_key(b"tensorflow>=2.16\n", f"{sys.version.split()[0]} /opt/other", "Linux", "x86_64"),
        modelenv.cache_key(b"tensorflow>=2.16\n", BASE, "Darwin", "x86_64"),
        modelenv.cache_key(b"tensorflow>=2.16\n", BASE, "Linux", "aarch64"),
    ]
    assert len({key, *changed}) == 6  # each part changes the key


def test_key_command_prints_the_outputs_action_yml_reads(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy\n")
    key = ["key", "--requirements", str(requirements), "--base-python", sys.executable]
    done = subprocess.run(
        [*MODULE, *key, "--root", str(tmp_path / "envs")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "action")},
    )
    outputs = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert outputs["dir"] == str(tmp_path / "envs" / outputs["key"])
    assert outputs["key"].startswith(f"keras-ct-model-env-{modelenv.FORMAT}-")


@pytest.fixture
def venv_from_a_python_that_goes(tmp_path: Path) -> tuple[Path, Path]:
    """A finished environment made from a base python (a link) that can then be removed."""
    base = tmp_path / "base" / "bin"
    base.mkdir(parents=True)
    (base / "python3").symlink_to(Path(sys.base_prefix) / "bin" / "python3")
    env_dir = tmp_path / "env"
    subprocess.run([str(base / "python3"), "-m", "venv", "--without-pip", str(env_dir)], check=True)
    (env_dir / modelenv.MARKER).write_text("the-key\n")
    return env_dir, base


def test_a_restored_environment_that_works_is_used(venv_from_a_python_that_goes: tuple[Path, Path]) -> None:
    env_dir, _ = venv_from_a_python_that_goes
    assert modelenv.stale_reason(env_dir, "the-key") is None
    assert modelenv.stale_reason(env_dir, "another-key") == "its install did not finish"


def test_a_stale_environment_is_rebuilt_with_a_note(
    venv_from_a_python_that_goes: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_dir, base = venv_from_a_python_that_goes
    (base / "python3").unlink()
    base.rmdir()  # the runner's python is gone (a new image, another tool cache)
    built: list[Path] = []
    monkeypatch.setattr(modelenv, "build", lambda d, *_: built.append(d))

    said = modelenv.prepare(env_dir, sys.executable, Path("ml_task/requirements.txt"), "the-key")

    assert built == [env_dir]
    assert said.endswith("was built from ml_task/requirements.txt")
    out = capsys.readouterr().out
    assert out.startswith(
        "::notice title=keras-ct rebuilds the model's environment::The cached environment in"
    )
    assert f"(the python it was made from ({base}) no longer exists)" in out


def test_a_cache_miss_builds_without_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(modelenv, "build", lambda *_: None)
    modelenv.prepare(tmp_path / "absent", sys.executable, Path("r.txt"), "k")
    assert "::notice" not in capsys.readouterr().out


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            assert requirement.name.lower() not in found, f"pinned twice: {line}"
            found[requirement.name.lower()] = specifier.version
    return found


def test_constraints_pin_every_runtime_dependency_within_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for line in project["dependencies"]:
        dependency = Requirement(line)
        name = dependency.name.lower()
        assert name in pinned, (
            f"{name} is a dependency in pyproject.toml but not pinned in {CONSTRAINTS.name}"
        )
        assert dependency.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside {line}"
    assert "uv" in pinned  # what builds the model's environment


def test_action_installs_keras_ct_with_the_constraints_and_keys_its_cache_on_them() -> None:
    steps = {s.get("id"): s for s in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]}
    assert '-c "$GITHUB_ACTION_PATH/action/constraints.txt"' in steps["install"]["run"]
    assert 'root / "action" / "constraints.txt"' in steps["python"]["run"]
    assert steps["model-env-cache"]["with"]["key"] == "${{ steps.model-env-key.outputs.key }}"
    assert "keras_ct.train.modelenv prepare" in steps["model-env"]["run"]
