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
#: The model's ``name`` where a repository has several; a commit without it is the unnamed model's.
NAME_TRAILER = "Keras-CT-Name"
#: ``git log --format`` for ``parse_log``: SHA, subject and the three trailers' values, one record each.
LOG_FORMAT = (
    f"%H%x1f%s%x1f%(trailers:key={ROUND_TRAILER},valueonly,separator=%x2C)"
    f"%x1f%(trailers:key={ACCURACY_TRAILER},valueonly,separator=%x2C)"
    f"%x1f%(trailers:key={NAME_TRAILER},valueonly,separator=%x2C)%x1e"
)


@dataclass(frozen=True)
class TrailerCommit:
    """A commit that carries keras-ct trailers."""

    sha: str
    round: int
    accuracy: float | None
    subject: str
    name: str = ""


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


def scoped(trailers: Mapping[str, str], name: str) -> dict[str, str]:
    """``trailers`` with the model's ``name`` trailer (none for the unnamed model: today's commits)."""
    return {**trailers, NAME_TRAILER: name} if name else dict(trailers)


def parse_log(output: str, name: str = "") -> list[TrailerCommit]:
    """The commits in ``git log --format=LOG_FORMAT`` output that carry a readable round trailer and
    belong to the model ``name`` (another model's rounds in the same branch are not this one's)."""
    found: list[TrailerCommit] = []
    for record in output.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) != 5 or not fields[2].strip():
            continue
        sha, subject, round_value, accuracy_value, name_value = fields
        if name_value.split(",")[-1].strip() != name:
            continue
        try:
            number = int(round_value.split(",")[-1].strip())
        except ValueError:
            continue  # a hand-written trailer we cannot read is not ours
        try:
            accuracy: float | None = float(accuracy_value.split(",")[-1].strip())
        except ValueError:
            accuracy = None
        found.append(TrailerCommit(sha=sha, round=number, accuracy=accuracy, subject=subject, name=name))
    return found
