"""`keras-ct detect`: read the model and training code (never run it) and plan the training job.

This is the reusable workflow's ``plan`` job, the seed's "look at the code and pick the
environment". It answers four questions with static analysis (:mod:`ast`, nothing is imported or
executed): which framework the code uses, whether the model is a CNN, whether ``keras-ct augment``
will find a model it can edit, and which runner labels the training job should get. It also
resolves the round and the pull request number for ``pull_request`` and ``workflow_dispatch``
events, and it never routes a pull request from a fork to self-hosted runners.

* :mod:`~keras_ct.detect.code`: the static analysis (pure, but for reading the files);
* :mod:`~keras_ct.detect.plan`: the event's facts, the routing, the outputs and the summary (pure);
* :mod:`~keras_ct.detect.command`: the command, wired by ``keras_ct.cli`` like every other: settings
  from ``load_config``, reports through ``Runner``, errors caught once in ``cli.main``.

The standard library is all it needs, so the ``detect`` action runs it straight from the action's
checkout (``python -S -m keras_ct.detect``); ``tests/test_detect.py`` keeps that true.
"""

from __future__ import annotations

from keras_ct.detect.code import (
    FRAMEWORKS,
    CodeFacts,
    FileFacts,
    Finding,
    analyse_code,
    analyse_source,
    combine,
    train_scripts,
)
from keras_ct.detect.command import SETTINGS, plan_job
from keras_ct.detect.plan import EventFacts, Plan, make_plan, plan_outputs, render_summary, resolve_event

__all__ = [
    "FRAMEWORKS",
    "SETTINGS",
    "CodeFacts",
    "EventFacts",
    "FileFacts",
    "Finding",
    "Plan",
    "analyse_code",
    "analyse_source",
    "combine",
    "make_plan",
    "plan_job",
    "plan_outputs",
    "render_summary",
    "resolve_event",
    "train_scripts",
]
