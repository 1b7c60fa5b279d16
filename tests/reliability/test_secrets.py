"""The token never leaks: not to the training subprocess, not to any log or file a run leaves behind.

Every process that runs repository code (each training run, the reused training process, the
augmenter's build check) gets its environment from one allow-list (keras_ct.train.childenv); the push gets
the token in its own environment only (keras_ct.git.auth_env).

(The workflow-file scans, `${{ }}` in `run:`, permissions, pinning, fork routing, live in
tests/test_workflows.py.)
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

import keras_ct
from keras_ct.git import basic_credential, open_repo
from tests.fake_github.state import READ_TOKEN, WRITE_TOKEN
from tests.reliability.harness import Result, World, fast_client, run_cli, run_wired, start_model

UNKNOWN_TOKEN = "ghs_revokedToken0123456789abcdefghijklmnop"
SECRET_ENV = ("GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def git_objects(git_dir: Path) -> bytes:
    """Every object of a repository, decompressed (commits, trees, blobs)."""
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch", "--batch-all-objects"],
        capture_output=True,
        check=True,
    )
    return done.stdout


def assert_only_masked(result: Result, token: str) -> None:
    lines = [line for line in (result.out + result.err).splitlines() if token in line]
    assert lines == [f"::add-mask::{token}"], lines


def assert_nowhere(world: World, token: str) -> None:
    leaks = [str(p) for p in files_under(world.tmp) if token.encode() in p.read_bytes()]
    assert leaks == [], f"the token is in {leaks}"
    assert token.encode() not in git_objects(world.checkout.bare)
    assert token.encode() not in git_objects(world.work / ".git")
    for exchange in world.fake.exchanges:  # what keras-ct sent GitHub, besides the Authorization header
        assert token not in json.dumps(exchange.body), exchange.route


def test_training_never_receives_the_token(world: World) -> None:
    dump = world.tmp / "trainer-env.json"
    env = world.env(
        {"train-command": "python env_dump.py", "threshold": "0.75"},
        GITHUB_TOKEN=WRITE_TOKEN,
        GH_TOKEN=WRITE_TOKEN,
        ACTIONS_RUNTIME_TOKEN="runtime-" + WRITE_TOKEN,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN="oidc-" + WRITE_TOKEN,
        STAND_IN_ENV_DUMP=str(dump),
    )
    result = run_cli(env)
    assert result.code == 0, result.out[-2000:]
    seen = json.loads(dump.read_text())
    assert [k for k in seen if k in SECRET_ENV or k.startswith("INPUT_")] == []
    assert [k for k, v in seen.items() if WRITE_TOKEN in v] == []
    assert seen["KERAS_CT_ROUND"] == "1"  # it is the trainer keras-ct ran
    assert seen["KERAS_CT_METRICS_FILE"].endswith("round-1/metrics.json")


def test_token_appears_only_in_the_mask_command(world: World) -> None:
    """A whole loop (miss, commit, push, dispatch; then pass), a failed round, a configuration error:
    the token is in no captured output but the one ``::add-mask::`` line per run, and in no file the
    runs leave (outputs, summary, train logs, metrics, models) nor in any commit on the remote."""
    token = world.token
    results = [
        run_wired(world.env(GITHUB_TOKEN=token), api=fast_client(world)),
        run_wired(world.dispatched_env(2, GITHUB_TOKEN=token), api=fast_client(world)),
        run_cli(world.dispatched_env(3, {"train-command": "python train_fake.py"}, FAKE_TRAIN_EXIT="1")),
        run_cli(world.env({"threshold": "95"})),
    ]
    assert [r.code for r in results] == [0, 0, 1, 2]
    assert len(world.repo.dispatches) == 1 and len(world.repo.comments) == 1
    for result in results:
        assert_only_masked(result, token)
    scanned = {p.name for p in files_under(world.tmp)}
    assert {"output.txt", "summary.md", "train.log", "metrics.json", "model.py"} <= scanned  # what is scanned
    assert_nowhere(world, token)


def test_rejected_tokens_are_not_echoed(world: World) -> None:
    """GitHub's refusals (401 for an unknown token, 403 for a read-only one) never quote the token."""
    world.token = UNKNOWN_TOKEN
    unknown = run_cli(world.env())
    world.token = READ_TOKEN
    read_only = run_cli(world.env())
    assert unknown.code == 1
    assert "GitHub rejected the token (401 Bad credentials)" in unknown.one_error().message
    assert read_only.code == 0  # degrades to the job summary at the first refused write
    assert_only_masked(unknown, UNKNOWN_TOKEN)
    assert_only_masked(read_only, READ_TOKEN)
    for token in (UNKNOWN_TOKEN, READ_TOKEN, WRITE_TOKEN):
        assert_nowhere(world, token)


# -- every process that runs repository code: an allow-listed environment, never a token ---------------

#: A scan of the environment the repository's code runs in, written by each process that runs it (the
#: training script, and the model module the build check imports). Names and values go to a file of
#: the test's: the test, which knows the secrets, judges them.
ENV_SCAN = """\
import json, os, uuid
from pathlib import Path

SCAN_DIR = "SCAN_DIR_HERE"


def environ_of(pid):
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError as exc:
        return {"<unreadable>": str(exc)}
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\\0") if entry)
    return {name: value for name, _, value in pairs}


def parent_of(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def scan(label):
    seen = {
        "os.environ": dict(os.environ),
        "/proc/self/environ": environ_of("self"),
    }
    # Every ancestor (keras-ct's supervisor, keras-ct, what started it): none may show a secret.
    pid, level = os.getppid(), 1
    while pid > 1 and level <= 8:
        seen[f"/proc/<ancestor {level}>/environ"] = environ_of(pid)
        pid, level = parent_of(pid), level + 1
    out = Path(SCAN_DIR) / f"{label}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    out.write_text(json.dumps(seen))
"""
SCAN_TRAIN = """\
import os
from pathlib import Path

import env_scan

env_scan.scan("train-round-" + os.environ["KERAS_CT_ROUND"])
exec(compile(Path("train_fake.py").read_text(), "train_fake.py", "exec"))
"""
# Enough of Keras for the build check (a model, its layers, their parameters), so no TensorFlow is
# imported: the build check puts the model's folder first on sys.path.
KERAS_STAND_IN = """\
class _Layer:
    def __init__(self, *args, **kwargs):
        self.name = type(self).__name__.lower()
        self.built = True

    def count_params(self):
        return 1


class _Layers:
    def __getattr__(self, name):
        return type(name, (_Layer,), {})


layers = _Layers()
Input = _Layer


class Sequential(_Layer):
    def __init__(self, layers=(), **kwargs):
        super().__init__()
        self.layers = list(layers)
        self.inputs = []

    def compile(self, *args, **kwargs):
        pass

    def count_params(self):
        return len(self.layers)
"""
MODEL_THAT_SCANS = start_model(prelude='import env_scan\n\nenv_scan.scan("build-check")\n')
ANCESTOR = "/proc/<ancestor"
#: Names that must not reach repository code (unless train-env names them).
TOKEN_LIKE = re.compile(
    r"TOKEN|SECRET|PASSW|KEY|^INPUT_|^ACTIONS_|^GITHUB_(ENV|PATH|OUTPUT|STATE|STEP_SUMMARY)$"
)
#: Where the keras_ct under test lives, for the tests that run it as a process.
PACKAGE_ROOT = str(Path(keras_ct.__file__).resolve().parents[1])
OTHER_SECRET = "wandb-0123456789abcdef0123456789abcdef"


def token_env(token: str) -> dict[str, str]:
    """What a runner's step may hold: the token under every name keras-ct reads, the runner's own
    credentials, the command files, and a secret of another tool that nobody asked to pass on."""
    return {
        "GITHUB_TOKEN": token,
        "INPUT_GITHUB-TOKEN": token,
        "INPUT_GITHUB_TOKEN": token,
        "GH_TOKEN": token,
        "ACTIONS_RUNTIME_TOKEN": "runtime-" + token,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-" + token,
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.example/?t=" + token,
        "HF_TOKEN": "hf-" + token,
        "WANDB_API_KEY": OTHER_SECRET,
    }


def leaks(scan: dict[str, dict[str, str]], secrets: Sequence[str]) -> list[str]:
    """What a scan found: a variable holding a secret anywhere (keras-ct's own start-up environment
    included), or a token-like name in the process's own environment."""
    found = []
    for where, env in scan.items():
        for name, value in env.items():
            if any(secret in value for secret in secrets):
                found.append(f"{where}: {name} holds a secret")
            elif not where.startswith(ANCESTOR) and TOKEN_LIKE.search(name):
                found.append(f"{where}: {name}")
    return found


def scans(folder: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Each scan by its label (``train-round-1``, ``build-check``) and pid: ``(label, pid, n)``."""
    found = {}
    for n, path in enumerate(sorted(folder.glob("*.json"))):
        label, pid, _ = path.stem.rsplit("-", 2)
        found[(label, pid, n)] = json.loads(path.read_text())
    return found


def scanner(folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    return ENV_SCAN.replace('"SCAN_DIR_HERE"', repr(str(folder)))


def scanning_world(world: World, folder: Path) -> None:
    # The scanner differs from the last test's only in its folder: same size, same second. A cached
    # .pyc would pass for it.
    shutil.rmtree(world.work / "ml_task" / "__pycache__", ignore_errors=True)
    world.commit_files(
        {
            "ml_task/env_scan.py": scanner(folder),
            "ml_task/scan_train.py": SCAN_TRAIN,
            "ml_task/keras.py": KERAS_STAND_IN,
            "ml_task/model.py": MODEL_THAT_SCANS,
        },
        "a model and a trainer that scan their environment",
    )


def assert_no_leaks(
    found: dict[tuple[str, str, int], dict[str, dict[str, str]]], secrets: Sequence[str]
) -> None:
    assert found, "nothing was scanned"
    assert {key: leaks(scan, secrets) for key, scan in found.items()} == {key: [] for key in found}
    for scan in found.values():
        assert scan["os.environ"]["PATH"] == os.environ["PATH"]  # the allow-list, not an empty env


@pytest.mark.parametrize("reuse", ["true", "false"], ids=["reused-process", "process-per-round"])
def test_no_process_that_runs_repository_code_sees_a_token(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reuse: str
) -> None:
    """Two rounds in one job, each missing: it trains, the augmenter's build check imports the model
    (the current one and the candidate), the edit is committed; then the push and the dispatch. With
    one reused training process (where the build checks run too) or a process each. keras-ct's own
    environment holds the token under every name it reads; no process that runs the repository's
    code gets any of it."""
    scanning_world(world, tmp_path / "scans")
    secrets = token_env(world.token)
    for name, value in secrets.items():  # the environment keras-ct itself runs in
        monkeypatch.setenv(name, value)
    env = world.env(
        {
            "train-command": "python ml_task/scan_train.py",
            "threshold": "0.95",
            "rounds-per-job": "2",
            "reuse-training-process": reuse,
            "policy": "naive",
        },
        **secrets,
    )

    result = run_wired(env, api=fast_client(world), augmenter=None)  # the real augmenter and build check

    assert result.code == 0, result.out[-3000:]
    found = scans(tmp_path / "scans")
    labels = [label for label, _, _ in found]
    assert labels.count("build-check") == 4  # each round: the current model and the conv-block candidate
    assert labels.count("train-round-1") == labels.count("train-round-2") == 1
    pids = {label: pid for label, pid, _ in found}
    assert (pids["train-round-1"] == pids["train-round-2"] == pids["build-check"]) is (reuse == "true")
    assert_no_leaks(found, list(secrets.values()))
    pushed = world.checkout.remote_log(2)
    assert "Keras-CT-Round: 1" in pushed and "Keras-CT-Round: 2" in pushed  # the push had the token
    assert [d.inputs["round"] for d in world.repo.dispatches] == ["3"]


def test_a_train_env_name_reaches_the_training_and_nothing_else_does(world: World, tmp_path: Path) -> None:
    scanning_world(world, tmp_path / "scans")
    secrets = token_env(world.token)
    env = world.env(
        {
            "train-command": "python ml_task/scan_train.py",
            "threshold": "0.75",
            "train-env": "WANDB_API_KEY, DATASET_*",
        },
        **secrets,
        DATASET_URL="https://data.example/digits",
        DATASET_API_KEY="not matched by a pattern",
        STAND_IN_METRICS="not named by this train-env",
    )

    assert run_cli(env).code == 0
    ((_, scan),) = scans(tmp_path / "scans").items()
    seen = scan["os.environ"]
    assert seen["WANDB_API_KEY"] == OTHER_SECRET  # named exactly: the user's choice
    assert seen["DATASET_URL"] == "https://data.example/digits"
    assert "DATASET_API_KEY" not in seen and "STAND_IN_METRICS" not in seen
    assert (
        leaks({"os.environ": {k: v for k, v in seen.items() if k != "WANDB_API_KEY"}}, list(secrets.values()))
        == []
    )


def test_the_trainer_cannot_read_the_token_in_keras_ct_s_own_environment(
    world: World, tmp_path: Path
) -> None:
    """The console script started with the token in its environment, as the action's step starts it:
    the trainer, its child, reads /proc/<keras-ct>/environ (same user) and finds the names but not
    the token (keras_ct.train.childenv.conceal). keras-ct still has it: the status is written."""
    scanning_world(world, tmp_path / "scans")
    secrets = token_env(world.token)
    env = world.env(
        {"train-command": "python ml_task/scan_train.py", "threshold": "0.75"},
        **secrets,
        PYTHONPATH=PACKAGE_ROOT,
    )

    done = subprocess.run(
        [sys.executable, "-m", "keras_ct", "run"], cwd=world.work, env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ((_, scan),) = scans(tmp_path / "scans").items()
    ancestors = [env for where, env in scan.items() if where.startswith(ANCESTOR)]
    assert any("INPUT_GITHUB-TOKEN" in env for env in ancestors)  # keras-ct's environment was read
    assert_no_leaks({("train", "", 0): scan}, list(secrets.values()))
    assert [s.state for s in world.repo.statuses] == ["pending", "success"]


def test_keras_ct_augment_s_build_check_never_sees_the_token(tmp_path: Path) -> None:
    """`keras-ct augment` proves its edit by importing the model in a subprocess: the model's
    module-level code finds no token there (it used to get keras-ct's whole environment)."""
    model_dir = tmp_path / "ml"
    model_dir.mkdir()
    (model_dir / "env_scan.py").write_text(scanner(tmp_path / "scans"))
    (model_dir / "keras.py").write_text(KERAS_STAND_IN)
    (model_dir / "model.py").write_text(MODEL_THAT_SCANS)
    secrets = token_env(WRITE_TOKEN)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": PACKAGE_ROOT, **secrets}

    done = subprocess.run(
        [sys.executable, "-m", "keras_ct", "augment", "--change", "conv-block", "--dry-run", "ml/model.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "keras-ct: would change ml/model.py" in done.stdout
    found = scans(tmp_path / "scans")
    assert [label for label, _, _ in found] == ["build-check", "build-check"]  # current model, candidate
    assert_no_leaks(found, list(secrets.values()))


# -- the push: the token in that one git command's environment, sent to the server alone -------------


class GitOverHTTP(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol (``git http-backend``) behind a check of the Authorization header."""

    server: GitServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        sent = self.headers.get_all("Authorization") or []
        self.server.seen.append((self.path, sent))
        if sent != [self.server.expected]:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "x-access-token",  # authenticated: receive-pack is allowed
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        self.send_response(int(status.split()[0]))
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


class GitServer(http.server.ThreadingHTTPServer):
    def __init__(self, root: Path, token: str) -> None:
        super().__init__(("127.0.0.1", 0), GitOverHTTP)
        self.root = root
        self.expected = f"basic {basic_credential(token)}"
        self.seen: list[tuple[str, list[str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


# Every git command keras-ct runs, as /proc shows it to any process of the user: argv, and whether
# the environment carried git config (the token's only way in).
GIT_SPY = """\
#!{python}
import json, os, sys
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "config": "GIT_CONFIG_COUNT" in os.environ}}) + "\\n")
os.execv({git!r}, [{git!r}, *sys.argv[1:]])
"""


def test_the_push_gets_the_token_in_its_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push to an HTTP remote that requires the token works; the token (or its base64 form) is on
    no command line, in no file, in no command but ls-remote and push; a stale header a checkout
    persisted in .git/config is replaced, not sent as well; a pre-push hook the trained code could
    have planted does not run."""
    token = WRITE_TOKEN
    served = tmp_path / "served"
    bare = served / "acme" / "ml.git"
    bare.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "http.receivepack", "true"], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "model.py").write_text("layers = 1\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(
        ["git", "-C", str(work), "-c", "user.name=U", "-c", "user.email=u@e", "commit", "-qm", "m"],
        check=True,
    )
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    spy_log, bin_dir = tmp_path / "git-commands.jsonl", tmp_path / "bin"
    bin_dir.mkdir()
    real_git = shutil.which("git")
    assert real_git is not None
    (bin_dir / "git").write_text(GIT_SPY.format(python=sys.executable, log=str(spy_log), git=real_git))
    (bin_dir / "git").chmod(0o755)
    stolen = tmp_path / "stolen-by-hook"
    hook = work / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\nenv > {stolen}\n")
    hook.chmod(0o755)
    with GitServer(served, token) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        remote_url = f"{server.url}/acme/ml.git"
        subprocess.run(["git", "-C", str(work), "remote", "add", "origin", remote_url], check=True)
        # What a checkout with persisted credentials leaves: another token's header for the server.
        stale = f"AUTHORIZATION: basic {basic_credential('ghs_staleTokenOfAnEarlierCheckout0123456789')}"
        subprocess.run(
            ["git", "-C", str(work), "config", f"http.{server.url}/.extraheader", stale], check=True
        )
        config_before = (work / ".git" / "config").read_bytes()
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("GITHUB_TOKEN", token)  # keras-ct's own environment has it; git must not
        repo = open_repo(work, author=("bot", "bot@example.com"), token=token, server_url=server.url)
        expected = repo.head()
        (work / "model.py").write_text("layers = 2\n")
        sha = repo.commit(["model.py"], "augment", {"Keras-CT-Round": "1"})

        result = repo.push("main", expected)

        server.shutdown()
    assert (
        result.pushed
        and subprocess.run(
            ["git", "-C", str(bare), "rev-parse", "main"], capture_output=True, text=True, check=True
        ).stdout.strip()
        == sha
    )
    assert server.seen and all(sent == [server.expected] for _, sent in server.seen), server.seen
    commands = [json.loads(line) for line in spy_log.read_text().splitlines()]
    with_config = [c["argv"] for c in commands if c["config"]]
    assert [next(a for a in argv if a in ("ls-remote", "push")) for argv in with_config] == [
        "ls-remote",
        "push",
    ]
    for argv in with_config:
        assert argv[:4] == ["-c", "core.hooksPath=/dev/null", "-c", "credential.helper="]
    secrets = (token, basic_credential(token))
    assert [c for c in commands if any(s in arg for s in secrets for arg in c["argv"])] == []
    assert (work / ".git" / "config").read_bytes() == config_before  # nothing written, the stale one kept
    assert not stolen.exists()
    assert [p for p in files_under(tmp_path) if any(s.encode() in p.read_bytes() for s in secrets)] == []
