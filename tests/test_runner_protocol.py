"""The runner protocol, byte for byte as actions-toolkit (the Python port of @actions/core) writes it.

``keras_ct.runner`` writes workflow commands and ``$GITHUB_OUTPUT`` entries with the standard library
only, because the plan job runs keras-ct with ``python -S`` (no site-packages). actions-toolkit is the
reference: for any name, properties and message the two must agree.
"""

from __future__ import annotations

import re

from actions_toolkit.command import Command
from actions_toolkit.file_command import prepare_key_value_message
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_ct.runner import command_line, key_value_message

names = st.sampled_from(["error", "warning", "notice", "group", "add-mask", "debug"])
values = st.one_of(st.none(), st.text(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=3))
properties = st.dictionaries(st.sampled_from(["file", "line", "col", "title", "endLine"]), values, max_size=4)
DELIMITER = re.compile(r"ghadelimiter_[0-9a-f-]{36}")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(name=names, props=properties, message=values)
def test_a_workflow_command_is_written_as_actions_toolkit_writes_it(
    name: str, props: dict[str, object], message: object
) -> None:
    assert command_line(name, props, message) == str(Command(name, props, message))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(name=st.text(min_size=1).filter(lambda s: "\n" not in s), value=values)
def test_an_output_entry_is_written_as_actions_toolkit_writes_it(name: str, value: object) -> None:
    ours = DELIMITER.sub("DELIMITER", key_value_message(name, value))
    theirs = DELIMITER.sub("DELIMITER", prepare_key_value_message(name, value))
    assert ours == theirs


def test_a_message_with_newlines_and_percent_signs_stays_one_command() -> None:
    line = command_line("error", {"file": "ml_task/model.py", "line": 3}, "50% done\nthen: a, b")
    assert line == "::error file=ml_task/model.py,line=3::50%25 done%0Athen: a, b"
