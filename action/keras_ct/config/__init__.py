"""keras-ct's configuration: one frozen, typed ``Config`` from flags, action inputs, ``.keras-ct.yml``
and defaults, built by ``load_config``; nothing else reads the environment.

* :mod:`~keras_ct.config.parse`: the value parsers (raw text or YAML scalar -> typed value);
* :mod:`~keras_ct.config.fields`: the field table (``FIELDS``, ``PLAN_FIELDS``) and the wording of a
  bad value;
* :mod:`~keras_ct.config.yaml_file`: reading ``.keras-ct.yml`` (PyYAML, imported only then);
* :mod:`~keras_ct.config.settings`: ``Config`` and ``GitHubContext``;
* :mod:`~keras_ct.config.load`: ``load_config``, the precedence and the checks across fields.

Importing it reads nothing and imports only the standard library.
"""

from __future__ import annotations

from keras_ct.config.fields import (
    CHANGES,
    DEFAULT_MODEL_FUNCTION,
    FIELD_NAMES,
    FIELDS,
    FORK_POLICIES,
    MAX_ROUNDS_CEILING,
    MAX_TRAIN_RETRIES,
    PLAN_FIELD_NAMES,
    PLAN_FIELDS,
    POLICIES,
    FieldSpec,
    Source,
    parse_field,
    parse_labels,
)
from keras_ct.config.load import error_report_context, load_config
from keras_ct.config.parse import _shape
from keras_ct.config.settings import Config, GitHubContext
from keras_ct.config.yaml_file import CONFIG_FILE

__all__ = [
    "CHANGES",
    "CONFIG_FILE",
    "DEFAULT_MODEL_FUNCTION",
    "FIELDS",
    "FIELD_NAMES",
    "FORK_POLICIES",
    "MAX_ROUNDS_CEILING",
    "MAX_TRAIN_RETRIES",
    "PLAN_FIELDS",
    "PLAN_FIELD_NAMES",
    "POLICIES",
    "Config",
    "FieldSpec",
    "GitHubContext",
    "Source",
    "_shape",
    "error_report_context",
    "load_config",
    "parse_field",
    "parse_labels",
]
