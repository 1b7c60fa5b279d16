"""The token never leaks: not to the training subprocess, not to any log or file a run leaves behind.

(The workflow-file scans, `${{ }}` in `run:`, permissions, pinning, fork routing, live in
tests/test_workflows.py.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.fake_github.state import READ_TOKEN, WRITE_TOKEN
from tests.reliability.harness import Result, World, fast_client, run_cli, run_wired

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
