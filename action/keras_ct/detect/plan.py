"""The plan: where the run comes from (round, pull request, fork) and where its training runs.

Pure: functions over frozen dataclasses. A Keras CNN gets the GPU labels, everything else the CPU
labels, and a pull request from a fork never gets GPU or self-hosted labels (``fork-policy``). The
pull-request facts come from :mod:`keras_ct.github.event`, the one rule for everyone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keras_ct.config.fields import BY_NAME, Source, parse_field
from keras_ct.detect.code import GPU_FRAMEWORKS, CodeFacts
from keras_ct.errors import ConfigError
from keras_ct.github.event import dig, pull_request_facts


@dataclass(frozen=True)
class EventFacts:
    """Where this run comes from: event, round, pull request, head branch and fork flag."""

    event_name: str
    round: int
    pr_number: int | None
    fork: bool
    head_ref: str
    head_repo: str
    base_repo: str


@dataclass(frozen=True)
class Plan:
    """The plan job's decision."""

    code: CodeFacts
    event: EventFacts
    runner: tuple[str, ...]
    gpu: bool
    skip: bool
    skip_reason: str
    writes: bool
    routing_reason: str
    notes: tuple[str, ...] = field(default=())


def _positive_int(value: Any, name: str, source: str) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise ConfigError(f'{name} must be a whole number of 1 or more, got "{value}" (from {source})')
    return int(text)


def resolve_event(
    event_name: str,
    payload: Mapping[str, Any],
    *,
    repository: str = "",
    ref_name: str = "",
    round_input: str = "",
    pr_input: str = "",
) -> EventFacts:
    """Round, PR number, head branch and fork flag for a ``pull_request``/``workflow_dispatch``/other run.

    An explicit input wins over the event payload. In a ``workflow_dispatch`` run the payload's
    ``inputs`` (``round``, ``pr-number``) are used when the caller did not pass them on.
    """
    base_repo = dig(payload, "repository", "full_name") or repository
    round_value: Any = round_input.strip()
    round_source = "the round input"
    pr_value: Any = pr_input.strip()
    pr_source = "the pr-number input"
    fork = False
    head_ref = ref_name
    head_repo = repository or base_repo

    pull = pull_request_facts(event_name, payload, repository)
    if pull is not None:
        if not pr_value:
            pr_value, pr_source = pull.number, "the pull_request event"
        head_ref = pull.head_ref or head_ref
        head_repo, base_repo, fork = pull.head_repo, pull.base_repo, pull.fork
    elif event_name == "workflow_dispatch":
        inputs = dig(payload, "inputs") or {}
        if not round_value and inputs.get("round") not in (None, ""):
            round_value, round_source = inputs["round"], "the workflow_dispatch input round"
        if not pr_value and inputs.get("pr-number") not in (None, ""):
            pr_value, pr_source = inputs["pr-number"], "the workflow_dispatch input pr-number"
        if not head_ref:
            ref = str(payload.get("ref", ""))
            head_ref = ref.removeprefix("refs/heads/")

    round_number = _positive_int(round_value, "round", round_source) if round_value not in ("", None) else 1
    pr_number = _positive_int(pr_value, "pr-number", pr_source) if pr_value not in ("", None) else None
    return EventFacts(
        event_name=event_name,
        round=round_number,
        pr_number=pr_number,
        fork=fork,
        head_ref=str(head_ref),
        head_repo=str(head_repo),
        base_repo=str(base_repo),
    )


def make_plan(
    code: CodeFacts,
    event: EventFacts,
    *,
    gpu_labels: Sequence[str],
    cpu_labels: Sequence[str],
    fork_policy: str,
) -> Plan:
    """Route the training job. A fork PR never gets GPU or self-hosted labels."""
    parse_field(BY_NAME["fork-policy"], fork_policy, Source("flag", "--fork-policy"))
    cpu, gpu = tuple(cpu_labels), tuple(gpu_labels)
    wants_gpu = code.framework in GPU_FRAMEWORKS and code.cnn
    if wants_gpu:
        why = f"a {code.framework} CNN trains on the GPU labels"
    elif code.framework == "unknown":
        why = "no known framework: trains on the CPU labels"
    else:
        why = f"a {code.framework} model that is not a Keras CNN trains on the CPU labels"
    if not event.fork:
        return Plan(
            code=code,
            event=event,
            runner=gpu if wants_gpu else cpu,
            gpu=wants_gpu,
            skip=False,
            skip_reason="",
            writes=True,
            routing_reason=why,
        )

    pr = f"#{event.pr_number}" if event.pr_number else "this pull request"
    origin = f"pull request {pr} comes from a fork ({event.head_repo or 'a deleted repository'})"
    if fork_policy == "skip":
        reason = (
            f"Training skipped: {origin}. Code from forks never runs on this repository's runners "
            "(self-hosted GPU runners would execute it) and a fork's token cannot comment, push or "
            "dispatch. To train fork pull requests on the CPU labels without writing anything, set "
            "fork-policy: cpu; or push the branch to this repository."
        )
        return Plan(code, event, cpu, False, True, reason, False, "fork-policy skip")
    if any(label.lower() == "self-hosted" for label in cpu):
        reason = (
            f"Training skipped: {origin} and fork-policy is cpu, but cpu-runner-labels "
            f"{json.dumps(list(cpu))} include self-hosted. Fork code never runs on self-hosted runners: "
            'give cpu-runner-labels GitHub-hosted labels such as ["ubuntu-latest"].'
        )
        return Plan(code, event, cpu, False, True, reason, False, "fork-policy cpu, self-hosted CPU labels")
    note = (
        f"{origin}: training on the CPU labels (fork-policy cpu); results go to the job summary only, "
        "nothing is commented, pushed or dispatched."
    )
    return Plan(code, event, cpu, False, False, "", False, "fork-policy cpu", notes=(note,))


#: What a fork pull request's checks can show: no job of it can write a commit status.
FORK_STATUS = (
    "No keras-ct commit status is set: a fork pull request's token is read-only whatever the workflow's "
    "permissions ask, so nothing in this workflow can write one. A required keras-ct check waits until "
    "the branch is pushed to this repository (see the README's section on forks)."
)


def plan_outputs(plan: Plan) -> dict[str, str]:
    """The plan job's outputs, as strings for ``$GITHUB_OUTPUT``."""

    def flag(value: bool) -> str:
        return "true" if value else "false"

    return {
        "framework": plan.code.framework,
        "cnn": flag(plan.code.cnn),
        "augmentable": flag(plan.code.augmentable),
        "runner": json.dumps(list(plan.runner), separators=(",", ":")),
        "gpu": flag(plan.gpu),
        "round": str(plan.event.round),
        "pr-number": str(plan.event.pr_number or ""),
        "fork": flag(plan.event.fork),
        "writes": flag(plan.writes),
        "skip": flag(plan.skip),
        "skip-reason": plan.skip_reason,
        "head-ref": plan.event.head_ref,
        "head-repo": plan.event.head_repo,
    }


def render_summary(plan: Plan) -> str:
    """The Markdown the plan job writes to the step summary."""
    code, event = plan.code, plan.event

    def yes(value: bool) -> str:
        return "yes" if value else "no"

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    framework_why = "; ".join(str(e) for e in code.framework_evidence)
    rows = [
        ("Framework", f"{code.framework}" + (f" ({framework_why})" if framework_why else "")),
        ("CNN", yes(code.cnn) + (f" ({code.cnn_evidence})" if code.cnn_evidence else "")),
        ("Augmentable", f"{yes(code.augmentable)} ({code.augmentable_reason})"),
        ("Training runner", f"`{json.dumps(list(plan.runner))}`" + (" (skipped)" if plan.skip else "")),
        ("Why", plan.routing_reason),
        ("Event", event.event_name or "(none)"),
        ("Round", str(event.round)),
        ("Pull request", f"#{event.pr_number}" if event.pr_number else "(none)"),
        ("Head", f"{event.head_repo}@{event.head_ref}" if event.head_ref else event.head_repo or "(unknown)"),
        ("Writes (comment, push, dispatch)", "allowed" if plan.writes else "none"),
    ]
    lines = ["## keras-ct plan", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {cell(value)} |" for name, value in rows]
    if plan.skip:
        lines += ["", "> [!WARNING]", f"> {plan.skip_reason}"]
    for note in (*plan.notes, FORK_STATUS) if event.fork else plan.notes:
        lines += ["", "> [!NOTE]", f"> {note}"]
    for problem in code.problems:
        lines += ["", f"- Problem: `{cell(str(problem))}` (the training job reports it)"]
    return "\n".join(lines) + "\n"
