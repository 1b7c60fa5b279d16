"""A real git repository with a real bare remote, holding a Keras model and a fast stand-in trainer.

The stand-in trainer does not train: it scores the model by counting its Conv2D layers (0.80 for
one, +0.10 per extra block) and writes a schema-valid metrics file, so GitHub-side tests run in
seconds. The augmentation step is real (libcst edit + a build in a TensorFlow subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCORE_BY_CONV = """\
import json, os, sys, time
from pathlib import Path
model = Path(os.environ["KERAS_CT_MODEL_FILE"]).read_text()
convs = model.count("Conv2D(")
acc = min(0.99, 0.70 + 0.10 * convs)
if os.environ.get("FAKE_TRAIN_EXIT"):
    print("training blew up", file=sys.stderr)
    sys.exit(int(os.environ["FAKE_TRAIN_EXIT"]))
if os.environ.get("FAKE_CONCURRENT_PUSH"):  # someone pushes to the PR branch while we train
    import subprocess
    bare, branch = os.environ["FAKE_CONCURRENT_PUSH"].split("::")
    run = lambda *a: subprocess.run(["git", "--git-dir", bare, *a], check=True, capture_output=True, text=True).stdout.strip()
    tree = run("rev-parse", f"refs/heads/{branch}^{{tree}}")
    parent = run("rev-parse", f"refs/heads/{branch}")
    sha = run("-c", "user.name=U", "-c", "user.email=u@example.com", "commit-tree", tree, "-p", parent, "-m", "user push")
    run("update-ref", f"refs/heads/{branch}", sha)
curve = [round(acc - 0.1 + 0.02 * i, 4) for i in range(5)]
doc = {"schema_version": 1, "metric": "accuracy", "accuracy": acc,
       "history": {"accuracy": curve, "val_accuracy": curve, "loss": [1.0] * 5, "val_loss": [1.0] * 5},
       "epochs": 5, "params": 1000 * convs, "duration_s": 0.1, "dataset": "stand-in", "pid": os.getpid()}
Path(os.environ["KERAS_CT_METRICS_FILE"]).write_text(json.dumps(doc))
print(f"stand-in accuracy {acc:.2f} for {convs} conv layers")
"""


#: What the tests' trainers read besides KERAS_CT_*: named in train-env, as a user names theirs.
TEST_TRAIN_ENV = "STAND_IN_* FAKE_* STARTED_FILE HANG"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@dataclass
class Checkout:
    work: Path
    bare: Path
    branch: str

    def head(self) -> str:
        return git(self.work, "rev-parse", "HEAD")

    def remote_head(self) -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{self.branch}")

    def remote_log(self, n: int = 5) -> str:
        return git(self.bare, "log", f"-{n}", "--format=%an <%ae>%n%B%n---", self.branch)


def make_checkout(tmp_path: Path, branch: str = "improve-model") -> Checkout:
    bare = tmp_path / "remote.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "config", "user.name", "Dev")
    git(work, "config", "user.email", "dev@example.com")
    (work / "ml_task").mkdir()
    (work / "ml_task" / "model.py").write_text((ROOT / "ml_task" / "model.py").read_text())
    (work / "train_fake.py").write_text(SCORE_BY_CONV)
    (work / ".gitignore").write_text(".keras-ct/\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "model")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-qb", branch)
    git(work, "push", "-q", "origin", branch)
    return Checkout(work, bare, branch)


def commit_file(checkout: Checkout, name: str, text: str, message: str) -> None:
    """Write ``name`` in the checkout, commit it on the pull request's branch and push it."""
    (checkout.work / name).write_text(text)
    git(checkout.work, "add", name)
    git(checkout.work, "commit", "-qm", message)
    git(checkout.work, "push", "-q", "origin", checkout.branch)


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """PATH, and HOME and KERAS_HOME under ``tmp_path`` (so no user git config), plus ``extra``."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KERAS_HOME": str(tmp_path / "keras-home"),
        **extra,
    }


def actions_env(
    tmp_path: Path,
    checkout: Checkout,
    api_url: str,
    token: str,
    *,
    event_name: str = "pull_request",
    event: dict | None = None,
    inputs: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment a runner gives the action's `keras-ct run` step."""
    event_path = tmp_path / f"event-{event_name}.json"
    event_path.write_text(json.dumps(event or {}))
    (tmp_path / "output.txt").write_text("")
    (tmp_path / "summary.md").write_text("")
    env = {
        **local_env(tmp_path, TF_CPP_MIN_LOG_LEVEL="3"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/ml-repo",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_WORKFLOW_REF": "acme/ml-repo/.github/workflows/ml.yml@refs/heads/improve-model",
        "GITHUB_RUN_ID": "1001",
        "GITHUB_REF_NAME": checkout.branch if event_name == "workflow_dispatch" else "7/merge",
        "GITHUB_HEAD_REF": checkout.branch if event_name == "pull_request" else "",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_GITHUB-TOKEN": token,
        "INPUT_WORKING-DIRECTORY": str(checkout.work),
        "INPUT_TRAIN-COMMAND": f"{sys.executable} train_fake.py",
        "INPUT_THRESHOLD": "0.85",
        "INPUT_MAX-ROUNDS": "3",
        "INPUT_PYTHON": sys.executable,
        # The stand-in trainers' switches; the training gets no other variable (keras_ct.train.childenv).
        "INPUT_TRAIN-ENV": TEST_TRAIN_ENV,
    }
    for name, value in (inputs or {}).items():
        env[f"INPUT_{name.upper()}"] = value
    return env


def pr_event(checkout: Checkout, number: int = 7, fork: str | None = None) -> dict:
    head_repo = fork or "acme/ml-repo"
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": checkout.branch, "sha": checkout.head(), "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": "acme/ml-repo"}},
        },
        "repository": {"full_name": "acme/ml-repo"},
    }


def outputs(tmp_path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT's heredoc records."""
    lines = (tmp_path / "output.txt").read_text().splitlines()
    result: dict[str, str] = {}
    i = 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        j = lines.index(delimiter, i + 1)
        result[name] = "\n".join(lines[i + 1 : j])
        i = j + 1
    return result
