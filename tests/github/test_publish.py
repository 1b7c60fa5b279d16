"""github_publish.connect without a token: a read-only publisher that says why, or a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_ct.config import load_config
from keras_ct.errors import ConfigError, KerasCTError
from keras_ct.github.publish import FORK_NOTE, NO_TOKEN_NOTE, ReadOnlyPublisher, Target, connect
from keras_ct.report import Verdict
from keras_ct.round.history import RoundRecord
from keras_ct.round.publish import Publisher
from keras_ct.runner import Runner


def _target(*, fork: bool = False, pr_number: int | None = 7) -> Target:
    return Target(
        api_url="http://127.0.0.1:9",  # nothing listens: a request would fail loudly
        repository="acme/ml-repo",
        pr_number=pr_number,
        head_branch="improve-model",
        head_sha="0" * 40,
        workflow="ml.yml",
        fork=fork,
    )


@pytest.mark.parametrize(
    ("target", "why"),
    [
        pytest.param(_target(fork=True), FORK_NOTE, id="fork-pull-request"),
        pytest.param(_target(pr_number=None), NO_TOKEN_NOTE, id="no-pull-request"),
    ],
)
def test_no_token_gives_a_read_only_publisher_that_says_why(tmp_path: Path, target: Target, why: str) -> None:
    cfg = load_config({}, {}, cwd=tmp_path)
    publisher: Publisher = connect(cfg, target, Runner())
    assert isinstance(publisher, ReadOnlyPublisher)
    assert (publisher.writable, publisher.why) == (False, why)
    assert publisher.target == target
    assert publisher.load_history() == ()
    publisher.set_status("pending", "Round 1 of 5: training")
    record = RoundRecord(round=1, accuracy=0.8, threshold=0.9, status="missed")
    assert publisher.publish([record], Verdict("stopped", "No change was made.")) == ""
    with pytest.raises(KerasCTError) as info:
        publisher.dispatch(2, "improve-model")
    assert info.value.message == f"cannot dispatch round 2: {why}"


def test_no_token_for_a_pull_request_of_the_repository_is_refused(tmp_path: Path) -> None:
    cfg = load_config({}, {}, cwd=tmp_path)
    with pytest.raises(ConfigError) as info:
        connect(cfg, _target(), Runner())
    assert info.value.message.startswith(
        "github-token is empty, so keras-ct cannot report on pull request #7 of acme/ml-repo"
    )
    assert info.value.exit_code == 2
