"""The entry point: parse the command line, build the config, wire the edges, catch errors once.

    keras-ct run      one round (under GitHub Actions: inputs from INPUT_*; posts and dispatches)
    keras-ct loop     rounds until the threshold is met or max-rounds is hit, locally
    keras-ct augment  change the model code (the policy's choice or a named change)
    keras-ct detect   read the code and pick the runner (the reusable workflow's plan job)
    keras-ct try      fan-out: runners: train one candidate's commit (a matrix job)
    keras-ct gather   fan-out: runners: keep the best candidate, then commit, push, comment, dispatch
    keras-ct fork-status  a fork's pull request: its keras-ct status, from a workflow_run companion

Importing this module is cheap and never imports TensorFlow or Keras.

``main`` reports every failure as one error line (an ``::error`` annotation under Actions), never a
traceback: a ``KerasCTError`` with its own message and exit code; an ``OSError`` no edge converted
with its path and what to check (exit 2); anything else as an internal error to report (exit 1),
with the traceback only when ``KERAS_CT_DEBUG`` or ``RUNNER_DEBUG`` is set (see ``keras_ct.errors``).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from keras_ct import __version__, detect
from keras_ct.config import CHANGES, FIELDS, PLAN_FIELDS, Config, load_config
from keras_ct.detect import command as detect_command
from keras_ct.errors import ConfigError, KerasCTError, debug_mode, internal_error_message, os_error_message
from keras_ct.round import interrupts
from keras_ct.runner import Runner

#: Config fields that are not command-line flags (secrets never go on a command line).
_NOT_FLAGS = {"github-token"}
#: The config fields ``keras-ct augment`` takes as flags (its positional path is ``model-file``).
_AUGMENT_FLAGS = frozenset({"model-function", "policy", "python", "input-shape"})


def _add_config_flags(
    parser: argparse.ArgumentParser,
    exclude: AbstractSet[str] = frozenset(),
    only: AbstractSet[str] | None = None,
) -> None:
    """A flag for each config field (``only`` those, when given; never a secret)."""
    group = parser.add_argument_group("configuration (flags beat action inputs, which beat .keras-ct.yml)")
    for spec in (*FIELDS, *PLAN_FIELDS):
        if spec.name in _NOT_FLAGS or spec.name in exclude:
            continue
        if (only is None and spec in PLAN_FIELDS) or (only is not None and spec.name not in only):
            continue
        default = "" if spec.default in (None, "") else f" (default: {spec.default})"
        group.add_argument(
            f"--{spec.name}", dest=spec.name, default=None, metavar="VALUE", help=spec.help + default
        )
    group.add_argument(
        "--config", type=Path, default=None, help="config file (default: .keras-ct.yml in working-directory)"
    )


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    names = {spec.name for spec in (*FIELDS, *PLAN_FIELDS)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-ct",
        description="Continuous training for Keras models: train, judge, augment, commit, re-dispatch.",
    )
    parser.add_argument("--version", action="version", version=f"keras-ct {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one round (under Actions: comment, status, commit, dispatch)")
    _add_config_flags(run)
    gh = run.add_argument_group("GitHub outside Actions (the token comes from GITHUB_TOKEN)")
    gh.add_argument(
        "--api-url", default=None, help="GitHub API base URL (default: $GITHUB_API_URL or api.github.com)"
    )
    gh.add_argument("--repository", default=None, help="owner/name (default: $GITHUB_REPOSITORY)")
    gh.add_argument(
        "--workflow",
        default=None,
        help="workflow file to dispatch, e.g. ml.yml (default: from $GITHUB_WORKFLOW_REF)",
    )
    gh.add_argument("--branch", default=None, help="pull request head branch (default: from the event)")
    run.set_defaults(handler=_run)

    _add_fanout_parsers(sub)

    loop = sub.add_parser("loop", help="run rounds locally until the threshold is met or max-rounds is hit")
    _add_config_flags(loop, exclude=frozenset({"commit", "push", "dispatch", "rounds-per-job"}))
    loop.add_argument(
        "--commit", dest="commit_flag", action="store_true", help="git-commit each change with trailers"
    )
    loop.add_argument(
        "--report", type=Path, default=None, help="Markdown report file (default: OUTPUT_DIR/report.md)"
    )
    loop.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="with --candidates above 1: candidate trainings at once (default: all; 1: one after another)",
    )
    loop.set_defaults(handler=_loop)

    aug = sub.add_parser("augment", help="change the model code; prints the unified diff")
    aug.add_argument("model-file", metavar="PATH", help="the model file (model-file)")
    aug.add_argument(
        "--change", choices=CHANGES, default="auto", help="which change (default: auto, the policy's pick)"
    )
    _add_config_flags(aug, only=_AUGMENT_FLAGS)
    aug.add_argument(
        "--train-script",
        type=Path,
        default=None,
        help="training script that keeps the epochs (for --change epochs)",
    )
    aug.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    aug.set_defaults(handler=_augment)

    _add_detect_parser(sub)
    _add_fork_status_parser(sub)
    return parser


def _add_fanout_parsers(sub: Any) -> None:
    """``fan-out: runners``'s stages after the train job's ``run`` (``keras_ct.round.fanout``)."""
    trial = sub.add_parser(
        "try", help="fan-out: train one candidate's commit (a matrix job); write its result"
    )
    _add_config_flags(trial)
    trial.add_argument("--candidate", required=True, metavar="JSON", help="the matrix entry (toJSON(matrix))")
    trial.set_defaults(handler=_try)
    gather = sub.add_parser(
        "gather", help="fan-out: keep the best candidate, commit, push, comment, dispatch"
    )
    _add_config_flags(gather)
    gather.add_argument("--matrix", required=True, metavar="JSON", help="the train job's matrix output")
    gather.add_argument("--results", required=True, type=Path, metavar="DIR", help="the downloaded artifacts")
    gather.set_defaults(handler=_gather)


def _try(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    from keras_ct.round.fanout import parse_entries, try_candidate

    (entry,) = parse_entries(args.candidate)
    overrides = {"round": str(entry.round), "commit": "false", "push": "false", "dispatch": "false"}
    cfg = _config(args, environ, overrides=overrides)
    return 0 if try_candidate(cfg, runner, environ, entry).accuracy is not None else 1


def _gather(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    from keras_ct import orchestrate
    from keras_ct.round.fanout import parse_entries

    entries = parse_entries(args.matrix)
    return orchestrate.run_gather(_config(args, environ), runner, environ, entries, args.results)


def _add_detect_parser(sub: Any) -> None:
    det = sub.add_parser(
        "detect",
        help="read the model and training code and plan the training job (runner labels, round, PR)",
        description=(detect.__doc__ or "").split("\n\n")[0],
    )
    _add_config_flags(det, only=frozenset(detect.SETTINGS))
    detect_command.add_arguments(det)
    det.set_defaults(handler=_detect)


def _runner(environ: Mapping[str, str]) -> Runner:
    return Runner.from_environ(environ)


def _config(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    overrides: Mapping[str, Any] | None = None,
    round_limit: bool = True,
) -> Config:
    return load_config(
        _flags(args), environ, config_file=args.config, overrides=overrides, round_limit=round_limit
    )


def _run(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    from keras_ct.github.publish import Overrides
    from keras_ct.round import preflight

    overrides = Overrides(args.api_url, args.repository, args.workflow, args.branch)
    try:
        cfg = _config(args, environ)
        # Everything that can refuse the round without training, before the training starts.
        preflight.check_run(cfg, overrides)
    except ConfigError as exc:
        from keras_ct import orchestrate

        orchestrate.report_config_error(exc, runner, environ, overrides=overrides)
        raise
    # The round's training starts now, before the rest of keras-ct (the GitHub client, git, the
    # reports) is even imported: all of that overlaps the training. run_action owns it from here.
    from keras_ct.train.launch import start_early, trainer_for

    runner.mask(cfg.github_token)
    trainer = trainer_for(cfg, local=False)
    early = start_early(cfg, runner, environ, trainer)
    try:
        from keras_ct import orchestrate
    except BaseException:
        if early is not None:
            early.cancel()
        trainer.close()
        raise
    return orchestrate.run_action(
        cfg,
        runner,
        environ,
        overrides=overrides,
        trainer=trainer,
        early=early,
    )


def _loop(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    from keras_ct import orchestrate

    overrides = {"commit": "true" if args.commit_flag else "false", "push": "false", "dispatch": "false"}
    cfg = _config(args, environ, overrides=overrides)
    return orchestrate.run_loop(cfg, runner, environ, report=args.report, jobs=args.jobs)


def _augment(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    from keras_ct import orchestrate

    cfg = _config(args, environ)
    return orchestrate.run_augment(cfg, runner, environ, args.change, args.train_script, args.dry_run)


def _detect(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    # The plan job routes the round; the training job judges it against max-rounds.
    cfg = _config(args, detect_command.event_environ(args, environ), round_limit=False)
    return detect.plan_job(cfg, runner, as_json=args.json)


def _add_fork_status_parser(sub: Any) -> None:
    fork = sub.add_parser(
        "fork-status",
        help="set a fork's pull request's keras-ct status after its run (the workflow_run companion)",
        description="Reads WORKFLOW_RUN_*, FORK_POLICY, MODEL_NAME and GITHUB_TOKEN from the environment.",
    )
    fork.set_defaults(handler=_fork_status)


def _fork_status(args: argparse.Namespace, environ: Mapping[str, str], runner: Runner) -> int:
    from keras_ct.github.fork_status import set_fork_status

    return set_fork_status(environ, runner)


@interrupts.interruptible
def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    parser = build_parser()
    args = parser.parse_args(argv)
    runner = _runner(environ)
    try:
        return int(args.handler(args, environ, runner))
    except KerasCTError as exc:
        return _failed(runner, exc.message, exc.exit_code, file=exc.file, line=exc.line)
    except KeyboardInterrupt as exc:  # SIGINT, SIGTERM, SIGHUP (keras_ct.round.interrupts)
        message, status = interrupts.describe(exc)
        return _failed(runner, message, status)
    except OSError as exc:  # file I/O no edge turned into a KerasCTError: name the path (errors.py)
        _traceback_if_debug(runner, environ, exc)
        return _failed(runner, os_error_message(exc), ConfigError.exit_code)
    except Exception as exc:  # a bug: one line, the traceback only in debug mode (errors.DEBUG_VARIABLES)
        debug = _traceback_if_debug(runner, environ, exc)
        return _failed(runner, internal_error_message(exc, debug=debug), 1)


def _failed(
    runner: Runner, message: str, code: int, *, file: str | None = None, line: int | None = None
) -> int:
    """Report a failure once: the error line (an ``::error`` annotation under Actions) and the summary."""
    runner.error(message, file=file, line=line)
    try:
        runner.add_summary(f"### keras-ct failed\n\n{message}\n")
    except KerasCTError as exc:  # a broken GITHUB_STEP_SUMMARY must not hide the error itself
        runner.warning(f"the step summary was not written: {exc.message}")
    return code


def _traceback_if_debug(runner: Runner, environ: Mapping[str, str], exc: BaseException) -> bool:
    debug = debug_mode(environ)
    if debug:
        traceback.print_exception(exc, file=runner.err)
        runner.err.flush()
    return debug


if __name__ == "__main__":
    sys.exit(main())
