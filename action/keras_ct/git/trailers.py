"""keras-ct's commit trailers: the keys, the message that carries them, and reading them back from
``git log``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from keras_ct.errors import GitError

ROUND_TRAILER = "Keras-CT-Round"
ACCURACY_TRAILER = "Keras-CT-Accuracy"
#: On a keep-the-best commit: the round whose files it puts back.
REVERT_TRAILER = "Keras-CT-Revert-To"
#: ``git log --format`` for ``parse_log``: SHA, subject and the two trailers' values, one record each.
LOG_FORMAT = (
    f"%H%x1f%s%x1f%(trailers:key={ROUND_TRAILER},valueonly,separator=%x2C)"
    f"%x1f%(trailers:key={ACCURACY_TRAILER},valueonly,separator=%x2C)%x1e"
)


@dataclass(frozen=True)
class TrailerCommit:
    """A commit that carries keras-ct trailers."""

    sha: str
    round: int
    accuracy: float | None
    subject: str


def build_message(message: str, trailers: Mapping[str, str]) -> str:
    """The commit message with ``Key: value`` trailers appended in git's trailer block format."""
    body = message.rstrip("\n")
    for key, value in trailers.items():
        if not re.fullmatch(r"[A-Za-z0-9-]+", key) or "\n" in str(value):
            raise GitError(
                f"invalid commit trailer {key!r}: {value!r} (keys are letters, digits and '-', "
                "values one line)"
            )
    lines = [f"{key}: {value}" for key, value in trailers.items()]
    return body + ("\n\n" + "\n".join(lines) if lines else "") + "\n"


def parse_log(output: str) -> list[TrailerCommit]:
    """The commits in ``git log --format=LOG_FORMAT`` output that carry a readable round trailer."""
    found: list[TrailerCommit] = []
    for record in output.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) != 4 or not fields[2].strip():
            continue
        sha, subject, round_value, accuracy_value = fields
        try:
            number = int(round_value.split(",")[-1].strip())
        except ValueError:
            continue  # a hand-written trailer we cannot read is not ours
        try:
            accuracy: float | None = float(accuracy_value.split(",")[-1].strip())
        except ValueError:
            accuracy = None
        found.append(TrailerCommit(sha=sha, round=number, accuracy=accuracy, subject=subject))
    return found
