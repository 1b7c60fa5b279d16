"""``keras-ct detect``, the plan job: read the settings, analyse the code, plan, report.

The settings come through ``load_config`` (flags, the detect action's ``INPUT_*``, ``.keras-ct.yml``),
the event through ``Config.github``; everything is reported through ``Runner`` (annotations,
``$GITHUB_OUTPUT``, the step summary); errors reach the one catch in ``keras_ct.cli.main``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from keras_ct.config import PLAN_FIELD_NAMES, Config
from keras_ct.detect.code import analyse_code
from keras_ct.detect.plan import Plan, make_plan, plan_outputs, render_summary, resolve_event
from keras_ct.runner import Runner

#: The settings the plan job reads: flags of ``keras-ct detect``, inputs of the detect action.
SETTINGS = (
    "model-file",
    "model-function",
    "train-command",
    "working-directory",
    "round",
    "pr-number",
    *PLAN_FIELD_NAMES,
)
#: Where a ``round`` or ``pr-number`` beats the event's: a flag or an input. A value in
#: ``.keras-ct.yml`` does not steer the plan (both change from run to run; the event knows them).
_EXPLICIT = ("flag", "input")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``keras-ct detect`` besides its settings: the event of a local run, the output."""
    parser.add_argument("--event-name", default=None, help="default: $GITHUB_EVENT_NAME")
    parser.add_argument("--event-path", default=None, help="event payload JSON; default: $GITHUB_EVENT_PATH")
    parser.add_argument("--json", action="store_true", help="print the plan's outputs as JSON")


def event_environ(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with ``--event-name``/``--event-path`` in place of the runner's variables."""
    chosen = {"GITHUB_EVENT_NAME": args.event_name, "GITHUB_EVENT_PATH": args.event_path}
    return {**environ, **{key: value for key, value in chosen.items() if value is not None}}


def _explicit(cfg: Config, name: str) -> str:
    value = getattr(cfg, name.replace("-", "_"))
    return str(value) if cfg.sources[name].kind in _EXPLICIT and value is not None else ""


def plan_job(cfg: Config, runner: Runner, *, as_json: bool = False) -> int:
    """Analyse, plan, write the outputs and the summary. Raises ``KerasCTError``."""
    event = resolve_event(
        cfg.github.event_name,
        cfg.github.event,
        repository=cfg.github.repository,
        ref_name=cfg.github.ref_name,
        round_input=_explicit(cfg, "round"),
        pr_input=_explicit(cfg, "pr-number"),
    )
    code = analyse_code(str(cfg.model_file), cfg.train_command, cfg.working_directory, cfg.model_function)
    plan = make_plan(
        code,
        event,
        gpu_labels=cfg.gpu_runner_labels,
        cpu_labels=cfg.cpu_runner_labels,
        fork_policy=cfg.fork_policy,
    )
    _report(plan, runner, as_json=as_json, model_file=cfg.model_file.as_posix())
    return 0


def _report(plan: Plan, runner: Runner, *, as_json: bool, model_file: str) -> None:
    """The plan's outputs (and the model file it read, resolved like the training job's settings:
    the reusable workflow keys the checkpoint cache on it) and its summary."""
    for problem in plan.code.problems:
        runner.warning(
            f"{problem.text}; the training job will report it", file=problem.path, line=problem.line or None
        )
    if plan.skip and runner.actions:
        runner.notice(plan.skip_reason)
    outputs = {**plan_outputs(plan), "model-file": model_file}
    summary = render_summary(plan)
    runner.set_outputs(outputs)
    runner.add_summary(summary)
    runner.info(json.dumps(outputs, indent=2) if as_json else summary)
