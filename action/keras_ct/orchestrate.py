"""Wiring: config + edges (git, GitHub, the augmenter) -> the round engine -> outputs.

``run_action`` is ``keras-ct run`` (one job's rounds, under Actions or against any API base URL),
``run_loop`` is ``keras-ct loop`` (every round, locally), ``run_augment`` is ``keras-ct augment``.
They share ``keras_ct.round.engine.Engine``: the local loop runs the same code path as the action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from keras_ct.config import Config, load_config
from keras_ct.errors import ConfigError
from keras_ct.report import Links, render_report
from keras_ct.round import preflight
from keras_ct.round.baseline import BaselineRun, baseline_run
from keras_ct.round.engine import BOT_EMAIL, BOT_NAME, Augmenter, Engine, RoundOutcome
from keras_ct.round.fanout import Entry, FannedOut
from keras_ct.round.history import RoundRecord
from keras_ct.round.publish import LocalPublisher, Publisher
from keras_ct.runner import Runner
from keras_ct.train.launch import repository_env, start_early, trainer_for
from keras_ct.train.trainer import ReusedTrainer, Trainer, Training

if TYPE_CHECKING:
    from keras_ct.augment import AugmentResult
    from keras_ct.augment.policy import Decision
    from keras_ct.git import GitRepo
    from keras_ct.github.api import GitHubAPI
    from keras_ct.github.publish import Overrides, Target


def augment_model(
    cfg: Config,
    records: Sequence[RoundRecord],
    trainer: Trainer | None = None,
    environ: Mapping[str, str] | None = None,
    change: str = "auto",
    diagnosis: str = "",
) -> AugmentResult:
    """The engine's augmenter: the policy picks from the history (or ``change`` is made), the build is
    proven, then written.

    With a reused training process (``trainer``), the candidates are built there: TensorFlow is
    already imported. The epochs change edits the train command's script or ``.keras-ct.yml``."""
    from keras_ct.augment import augment

    return augment(
        cfg.model_path,
        change=change,
        diagnosis=diagnosis,
        history=records,
        train_script=cfg.train_script(),
        config_file=cfg.config_file,
        train_command=cfg.train_command,
        run_script=trainer.run_script if isinstance(trainer, ReusedTrainer) else None,
        **_augment_settings(cfg, environ if environ is not None else {}),
    )


class _AugmentSettings(TypedDict):
    policy: str
    model_function: str
    python: str
    input_shape: tuple[int, ...] | None
    cwd: Path
    env: Mapping[str, str]


def _augment_settings(cfg: Config, environ: Mapping[str, str]) -> _AugmentSettings:
    """``keras_ct.augment.augment``'s settings from ``cfg``: the loop's and ``keras-ct augment``'s. The
    build check runs the model's code: it gets the training's environment (``launch.repository_env``),
    never the token."""
    return _AugmentSettings(
        policy=cfg.policy,
        model_function=cfg.model_function,
        python=cfg.interpreter,
        input_shape=cfg.input_shape,
        cwd=cfg.working_directory,
        env=repository_env(cfg, environ),
    )


def _git(cfg: Config, author: tuple[str, str] | None, *, bot: bool = False) -> GitRepo:
    from keras_ct import git as gitops

    # The token goes to the remote commands only (ls-remote, push), in their environment.
    return gitops.open_repo(
        cfg.working_directory,
        author=author,
        bot=bot,
        token=cfg.github_token,
        server_url=cfg.github.server_url,
        name=cfg.name,
    )


def _connect(
    cfg: Config, overrides: Overrides | None, api: GitHubAPI | None
) -> tuple[Target | None, GitRepo | None, Publisher]:
    """Where the round reports (the command line's ``overrides`` over what the runner says), the
    checkout it commits in (only when it reports to GitHub) and its publisher."""
    from keras_ct.github import publish as github_publish

    target = github_publish.resolve_target(cfg, overrides)
    if target is None:
        return None, None, LocalPublisher()
    git = None
    if cfg.commit:
        # What this run checked out is what it trains, reports on and expects on the remote when pushing.
        git = _git(cfg, (BOT_NAME, BOT_EMAIL), bot=True)
        target = replace(target, head_sha=git.head())
    connection = github_publish.connect(cfg, target, api=api)
    return connection.target, git, connection.publisher


def write_outputs(runner: Runner, cfg: Config, outcome: RoundOutcome) -> None:
    last = outcome.last
    runner.set_outputs(
        {
            "accuracy": "" if last is None or last.accuracy is None else f"{last.accuracy:.6f}",
            "passed": "true" if last is not None and last.passed else "false",
            "round": str(last.round if last else cfg.round),
            "next-round": str(outcome.next_round or ""),
            "dispatched": "true" if outcome.dispatched else "false",
            "comment-url": outcome.comment_url,
            "model-path": str(outcome.model_path or ""),
            "metrics-file": str(outcome.metrics_path or ""),
        }
    )


def finish(runner: Runner, cfg: Config, outcome: RoundOutcome) -> int:
    """The step's outputs for ``outcome``, and the exit status that goes with it."""
    write_outputs(runner, cfg, outcome)
    return exit_status(cfg, outcome)


def exit_status(cfg: Config, outcome: RoundOutcome) -> int:
    """0 when the round ran (the loop decides what is next); 1 on a miss with fail-below-threshold."""
    last = outcome.last
    if cfg.fail_below_threshold and last is not None and not last.passed and outcome.verdict.state != "next":
        return 1
    return 0


def run_action(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    *,
    overrides: Overrides | None = None,
    api: GitHubAPI | None = None,
    augmenter: Augmenter | None = None,
    trainer: Trainer | None = None,
    early: Training | None = None,
) -> int:
    """``keras-ct run``. ``api`` (a ``GitHubAPI``) and ``augmenter`` replace the defaults built here, e.g.
    a client with a test's ``RetryPolicy`` and timeout. ``early``: the round's training, already
    started with ``trainer`` (``keras_ct.train.launch.start_early``, as the CLI does, after its preflight); else
    the preflight runs and the training starts here."""
    runner.mask(cfg.github_token)
    if cfg.github_token:
        from keras_ct.git import basic_credential

        runner.mask(basic_credential(cfg.github_token))  # the form git sends it in
    if trainer is None:
        preflight.check_run(cfg, overrides)
        trainer = trainer_for(cfg, local=False)
        early = start_early(cfg, runner, environ, trainer)
    # The training runs while the GitHub client loads and the history, the duplicate-run guard and the
    # pending status go back and forth: the engine takes it over, or it is stopped here on an error.
    try:
        target, git, publisher = _connect(cfg, overrides, api)
    except BaseException:
        if early is not None:
            early.cancel()
        trainer.close()
        raise
    if target is not None and not publisher.writable:
        runner.notice(f"keras-ct will not comment, push or dispatch: {publisher.why}")
    writer = git if publisher.writable else None
    if augmenter is None and cfg.fan_out == "runners" and cfg.candidates > 1 and writer and target:
        augmenter = _proposer(writer, target, environ, trainer)
    base_branch = target.base_branch if target else ""
    push_run = cfg.github.event_name == "push"  # the baseline: trains and records, changes nothing
    engine = _engine(
        cfg,
        runner,
        environ,
        trainer,
        augmenter,
        publisher=publisher,
        git=None if push_run else writer,
        baseline=_baseline(cfg, writer, target.head_branch if target else "", base_branch),
        head_branch=target.head_branch if target else "",
        head_sha=target.head_sha if target else "",
        links=Links(cfg.github.server_url, target.repository) if target else Links(),
        notes=[] if publisher.writable or target is None else [publisher.why],
        early=early,
    )
    try:
        outcome = engine.run()
    except FannedOut as out:  # fan-out: runners: the round goes on in the candidate and gather jobs
        return _fanned_out(runner, cfg, out)
    return finish(runner, cfg, outcome)


def _proposer(git: GitRepo, target: Target, environ: Mapping[str, str], trainer: Trainer) -> Augmenter:
    """``fan-out: runners``: the train job pushes the candidates for the matrix job (``round.fanout``)."""
    from keras_ct.round.fanout import proposer

    propose = partial(_propose, environ=environ, trainer=trainer)
    return proposer(git, target.pr_number or target.head_branch, propose)


def _fanned_out(runner: Runner, cfg: Config, out: FannedOut) -> int:
    from keras_ct.round.fanout import matrix_json

    record = out.record
    runner.notice(f"round {record.round} missed: {len(out.entries)} candidates go to the matrix job")
    runner.set_outputs(
        {
            "accuracy": "" if record.accuracy is None else f"{record.accuracy:.6f}",
            "passed": "false",
            "round": str(record.round),
            "next-round": "",
            "dispatched": "false",
            "metrics-file": str(cfg.metrics_path(record.round)),
            "matrix": matrix_json(out.entries),
        }
    )
    return 0


def run_gather(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    entries: Sequence[Entry],
    results_dir: Path,
    overrides: Overrides | None = None,
) -> int:
    """``keras-ct gather``: round N's verdict from the train job's metrics file (downloaded to
    ``results_dir``) and the kept one of its candidates (``round.fanout``), carried out by the engine."""
    from keras_ct.round.fanout import Recorded, artifact_prefix, gatherer, read_results, round_artifact

    preflight.check_run(cfg, overrides)
    n = cfg.round
    results = read_results(entries, results_dir, artifact_prefix(n, cfg.name))
    for r in results:
        runner.info(f"candidate {r.index} ({r.change}): " + (r.error or f"{cfg.metric} {r.accuracy:.4f}"))
    recorded = Recorded(results_dir / round_artifact(n, cfg.name) / cfg.metrics_path(n).name)
    git = _git(cfg, (BOT_NAME, BOT_EMAIL), bot=True)
    augmenter = gatherer(git, entries, results)
    return run_action(cfg, runner, environ, overrides=overrides, augmenter=augmenter, trainer=recorded)


def _engine(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    trainer: Trainer,
    augmenter: Augmenter | None,
    jobs: int = 0,
    **wiring: Any,
) -> Engine:
    """The round engine over ``trainer``; the augmenter builds its candidates there by default. With
    ``candidates`` above 1 it trains that many changes side by side (``round.trials``, ``jobs`` at once)."""
    augment = augmenter or partial(augment_model, trainer=trainer, environ=environ)
    if augmenter is None and cfg.candidates > 1:
        from keras_ct.round.trials import run_trials

        propose = partial(_propose, environ=environ, trainer=trainer)
        augment = partial(run_trials, environ=environ, runner=runner, propose=propose, jobs=jobs)
    return Engine(cfg=cfg, runner=runner, environ=environ, augmenter=augment, trainer=trainer, **wiring)


def _propose(
    cfg: Config,
    records: Sequence[RoundRecord],
    decision: Decision,
    *,
    environ: Mapping[str, str],
    trainer: Trainer | None = None,
) -> AugmentResult:
    """One candidate: the policy's ``decision``, made in its own copy of the tree (``round.trials``);
    its build is checked in the reused training process when the job has one (TensorFlow is imported
    there already: k candidates do not cost k imports)."""
    return augment_model(cfg, records, trainer, environ, change=decision.change, diagnosis=decision.diagnosis)


def _baseline(
    cfg: Config, git: GitRepo | None, branch: str, base_branch: str, *, local: bool = False
) -> BaselineRun:
    """The base branch's model for the rounds and the notes each trained round is recorded in
    (``keras_ct.round.baseline``); locally the base is the default branch, the notes stay local."""
    from keras_ct.git.notes import Notes

    notes = Notes(git) if git is not None else None
    if local and notes is not None:
        branch = (git.current_branch() if git is not None else "") or ""
        base_branch = notes.default_branch()
        base_branch = "" if base_branch == branch else base_branch
    return baseline_run(notes, branch=branch, base_branch=base_branch, metric=cfg.metric, push=not local)


def report_config_error(
    exc: ConfigError,
    runner: Runner,
    environ: Mapping[str, str],
    *,
    overrides: Overrides | None = None,
) -> None:
    """Under Actions, mark the commit under test failed when the configuration is invalid, or the
    preflight refused the round (``keras_ct.round.preflight``).

    There is no trusted config then, so only what the runner itself says is used: the pull request's
    head commit (or the dispatched commit), the token, the API URL. The status links to the run,
    whose ``::error`` says what to fix. The sticky comment is left alone: its round history must not
    be rewritten by a run whose inputs cannot be read. Fork pull requests get nothing (read-only
    token). Best effort: a failure to report is a warning; the ``ConfigError`` stays the error.
    """
    from keras_ct.config import error_report_context
    from keras_ct.errors import GitHubError
    from keras_ct.github.client import GitHubClient
    from keras_ct.github.publish import Overrides, target_from_context
    from keras_ct.github.retry import RetryPolicy

    found = error_report_context(environ)
    if found is None:
        return
    gh, token = found
    runner.mask(token)
    # Only where to send the status: a workflow or branch flag has no say in it.
    given = overrides or Overrides()
    target = target_from_context(gh, overrides=Overrides(given.api_url, given.repository))
    if target is None or target.fork:  # a fork's token is read-only: send nothing
        return
    sha = target.head_sha or (gh.sha if gh.event_name == "workflow_dispatch" else "")
    if not (sha and token):
        return
    try:
        client = GitHubClient(
            repository=target.repository,
            token=token,
            api_url=target.api_url,
            timeout_s=10,
            retry=RetryPolicy(max_attempts=3, max_elapsed_s=30.0),
        )
        what = (
            "refused before training"
            if isinstance(exc, preflight.PreflightError)
            else "invalid keras-ct configuration"
        )
        client.create_commit_status(sha, "failure", f"{what}: {exc.message}", gh.run_url or None)
    except GitHubError as error:
        runner.warning(f"could not mark commit {sha[:7]} failed on GitHub: {error.message}")


def run_loop(
    cfg: Config, runner: Runner, environ: Mapping[str, str], *, report: Path | None = None, jobs: int = 0
) -> int:
    """``keras-ct loop``: every round here; ``jobs``: candidate trainings at once (0: all of them)."""
    preflight.check_loop(cfg, report=report)
    git = _git(cfg, None) if cfg.commit else None
    if git is not None:
        git.ensure_branch()  # a detached HEAD is refused before training (preflight can call it too)
    trainer = trainer_for(cfg, local=True)
    baseline = _baseline(cfg, git, "", "", local=True)
    outcome = _engine(
        cfg,
        runner,
        environ,
        trainer,
        None,
        jobs,
        publisher=LocalPublisher(),
        git=git,
        local=True,
        baseline=baseline,
    ).run()
    path = preflight.report_path(cfg, report)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(outcome.records, replace(outcome.verdict, base=baseline.base), diff=outcome.diff)
    path.write_text(f"{preflight.REPORT_MARKER}\n{text}", encoding="utf-8")  # the marker: keras-ct's file
    runner.info(f"report: {path}")
    return finish(runner, cfg, outcome)


def run_augment(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    change: str = "auto",
    train_script: Path | None = None,
    dry_run: bool = False,
) -> int:
    """``keras-ct augment``: change ``cfg``'s model file (``change``, or the policy's pick) and print the
    diff. ``train_script``: the script whose epochs the epochs change raises."""
    from keras_ct.augment import augment

    settings = _augment_settings(cfg, environ)
    result = augment(cfg.model_path, change=change, train_script=train_script, dry_run=dry_run, **settings)
    runner.info(result.diff.rstrip("\n"))
    verb = "would change" if dry_run else "changed"
    runner.info(f"keras-ct: {verb} {cfg.model_file}: {result.description} ({result.rationale})")
    return 0


__all__ = [
    "exit_status",
    "load_config",
    "report_config_error",
    "run_action",
    "run_augment",
    "run_gather",
    "run_loop",
    "write_outputs",
]
