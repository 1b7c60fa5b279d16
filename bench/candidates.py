"""k = 1, 2, 3 candidate changes per missed round (issue 15 item 6): rounds, critical path, compute.

For each task, one real ``keras-ct loop --commit --policy diagnose --candidates k --jobs 1`` per k
(same max-rounds, same fixed-seed data and training): ``--jobs 1`` trains a round's k candidates one
after another, so each one's training seconds are not inflated by the others on 2 shared cores.
Every training's seconds are its metrics file's ``duration_s`` (the ``fit`` seconds, as in the
other sections). From them, per run:

- **critical path**: the sum over rounds of the round's own training plus its slowest candidate's:
  what k runners side by side would take. A round whose code the kept candidate trained already
  takes that training (``train.ahead``) and adds nothing: its seconds are the candidate's;
- **compute**: every training's seconds, the rounds' that trained and all the candidates';
- rounds to the threshold and whether it was reached, as the loop's rounds of record.

The first guess is wrong on a task when its k = 3 run kept a candidate other than the policy's first
in some round; the goal (k = 3: >= 1.5x shorter critical path than k = 1, at <= 3x the compute) is
judged on those tasks. Everything but ``section`` is pure.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import versus
from bench.harness import git, say
from bench.stats import Verdict, markdown_table, verdict_rows
from bench.tasks import TASKS
from keras_ct.train.metrics import meets

KS = (1, 2, 3)
#: The goal's k, and what it must achieve against k = 1.
GOAL_K = 3
CRITICAL_GOAL = 1.5
_TRAILER = re.compile(r"^Keras-CT-Candidate-(\d+): (.+?) (failed|-?\d+(?:\.\d+)?)( \(kept\))?$", re.M)


@dataclass(frozen=True)
class Candidate:
    """One candidate of a missed round: its rank in the policy's order, change, accuracy and training
    seconds (None: it wrote no metrics), and whether it was kept."""

    index: int
    change: str
    accuracy: float | None
    train_s: float | None
    kept: bool = False


@dataclass(frozen=True)
class Round:
    """A round of record (its accuracy and training seconds), the candidates tried after it, and
    whether it took the kept candidate's training of the round before (``ahead``: trained nothing)."""

    accuracy: float
    train_s: float
    candidates: tuple[Candidate, ...] = ()
    ahead: bool = False

    @property
    def own_s(self) -> float:
        """The seconds this round trained itself (none when it took a candidate's training)."""
        return 0.0 if self.ahead else self.train_s

    @property
    def slowest_s(self) -> float:
        return max((c.train_s or 0.0 for c in self.candidates), default=0.0)


@dataclass(frozen=True)
class KRun:
    """One loop with k candidates on one task."""

    task: str
    k: int
    reached: bool
    rounds: tuple[Round, ...]
    wall_s: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the loop's start and end
    stopped: str = ""

    @property
    def critical_s(self) -> float:
        return sum(r.own_s + r.slowest_s for r in self.rounds)

    @property
    def critical_steps(self) -> int:
        """Trainings one after another on the critical path (noise-free): each round that trained
        itself, and its trial."""
        return sum(int(not r.ahead) + bool(r.candidates) for r in self.rounds)

    @property
    def compute_s(self) -> float:
        return sum(r.own_s + sum(c.train_s or 0.0 for c in r.candidates) for r in self.rounds)

    @property
    def trainings(self) -> int:
        return sum(int(not r.ahead) + len(r.candidates) for r in self.rounds)

    @property
    def first_guess_wrong(self) -> bool:
        return any(c.kept and c.index != 1 for r in self.rounds for c in r.candidates)

    @property
    def best(self) -> float:
        return max((r.accuracy for r in self.rounds), default=0.0)


def parse_trailers(message: str) -> dict[int, tuple[str, float | None, bool]]:
    """A kept change's commit message to {rank: (change, accuracy or None, kept)}."""
    return {
        int(m[1]): (m[2], None if m[3] == "failed" else float(m[3]), bool(m[4]))
        for m in _TRAILER.finditer(message)
    }


def candidates_of(
    trailers: Mapping[int, tuple[str, float | None, bool]], metrics: Mapping[int, Mapping[str, Any] | None]
) -> tuple[Candidate, ...]:
    """One round's candidates from the kept commit's trailers and each candidate's metrics (None:
    none written); a candidate with metrics but no trailer (the round failed) has change ``?``."""
    out = []
    for i in sorted(set(trailers) | set(metrics)):
        change, accuracy, kept = trailers.get(i, ("?", None, False))
        m = metrics.get(i)
        seconds = None if m is None else float(m["duration_s"])
        out.append(Candidate(i, change, accuracy if m is None else float(m["accuracy"]), seconds, kept))
    return tuple(out)


def read_run(loop: Mapping[str, Any], k: int, load: tuple[float, float]) -> KRun:
    """A finished loop (``bench.run.loop``'s result) with its candidates read from its work folder."""
    work = Path(loop["work"])
    commits = git(work, "rev-list", "--reverse", "HEAD").split()
    rounds = []
    kept_metrics: Mapping[str, Any] | None = None  # the kept candidate's metrics file of the round before
    for n, r in enumerate(loop["rounds"], start=1):
        folder = work / ".keras-ct" / "candidates" / f"round-{n}"
        metrics = {
            int(d.name.rsplit("-", 1)[1]): _json(d / ".keras-ct" / f"round-{n + 1}" / "metrics.json")
            for d in (folder.glob("candidate-*") if folder.is_dir() else ())
        }
        message = git(work, "log", "-1", "--format=%B", commits[n]) if n < len(commits) else ""
        found = candidates_of(parse_trailers(message), metrics) if metrics else ()
        # The round took that training (train.ahead copies its metrics file byte for byte, seconds too).
        own = _json(work / ".keras-ct" / f"round-{n}" / "metrics.json")
        ahead = kept_metrics is not None and kept_metrics == own
        rounds.append(Round(float(r["accuracy"]), float(r["duration_s"]), found, ahead))
        kept_metrics = next((metrics[c.index] for c in found if c.kept), None)
    return KRun(loop["task"], k, bool(loop["reached"]), tuple(rounds), loop["wall_s"], load, loop["stopped"])


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def section(tmp: Path, tasks: Sequence[str], loop: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Run every task with k = 1, 2, 3 (alternating the order task by task, against load drift)."""
    runs = []
    for t, name in enumerate(tasks):
        for k in KS if t % 2 == 0 else KS[::-1]:
            say(f"candidates: keras-ct loop --candidates {k} --jobs 1 on {name}")
            start = os.getloadavg()[0]
            run = read_run(loop(tmp, name, "diagnose", candidates=k, jobs=1), k, (start, os.getloadavg()[0]))
            say(
                f"  {len(run.rounds)} round(s), reached={run.reached}, critical {run.critical_s:.1f}s, "
                f"compute {run.compute_s:.1f}s ({run.trainings} trainings), wall {run.wall_s:.0f}s"
            )
            runs.append(run)
    return {"runs": runs, "thresholds": {t: TASKS[t].threshold for t in tasks}, **compare(runs)}


def revive(data: Mapping[str, Any]) -> dict[str, Any]:
    """The section's results.json entry back to runs, and the figures recomputed from them (reached
    too: the last round's accuracy against the threshold, with keras-ct's float tolerance)."""
    runs = [
        KRun(
            r["task"],
            r["k"],
            bool(r["rounds"]) and meets(r["rounds"][-1]["accuracy"], data["thresholds"][r["task"]]),
            tuple(
                Round(
                    x["accuracy"],
                    x["train_s"],
                    tuple(Candidate(**c) for c in x["candidates"]),
                    bool(x.get("ahead", False)),  # results from before train.ahead: every round trained
                )
                for x in r["rounds"]
            ),
            r["wall_s"],
            tuple(r["load"]),
            r["stopped"],
        )
        for r in data["runs"]
    ]
    return {"runs": runs, "thresholds": data["thresholds"], **compare(runs)}


def compare(runs: Sequence[KRun]) -> dict[str, Any]:
    """Per task, each k's run and its ratios to k = 1; the goal's two verdicts."""
    by_task: dict[str, dict[int, KRun]] = {}
    for run in runs:
        by_task.setdefault(run.task, {})[run.k] = run
    rows = []
    for task, found in by_task.items():
        if 1 not in found:
            raise ValueError(f"task {task} has no k = 1 run")
        rows.append(
            {
                "task": task,
                "first_guess_wrong": GOAL_K in found and found[GOAL_K].first_guess_wrong,
                "speedup": {k: speedup(found[1], r) for k, r in found.items() if k > 1},
                "compute_ratio": {
                    k: _over(r.compute_s, found[1].compute_s) for k, r in found.items() if k > 1
                },
            }
        )
    return {"rows": rows, "verdicts": verdicts(rows)}


def speedup(one: KRun, many: KRun) -> float | None:
    """k = 1's critical path over ``many``'s, to the threshold (``versus.speedup``'s rules: inf when
    only ``many`` reached, 0 when only k = 1 did, None when neither)."""
    return versus.speedup(_arm(many), [_arm(one)])


def _arm(run: KRun) -> versus.Arm:
    return versus.Arm(run.task, f"k={run.k}", run.reached, len(run.rounds), run.critical_s, 0, run.best)


def _over(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def verdicts(rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    wrong = [r for r in rows if r["first_guess_wrong"]]
    if not wrong:
        none = "not measurable: the k = 3 run kept the policy's first change in every round of every task"
        return [Verdict(_CRITICAL, none, False), Verdict(_COMPUTE, none, False)]
    ratios = [r["speedup"].get(GOAL_K) for r in wrong]
    compute = [r["compute_ratio"].get(GOAL_K) for r in wrong]
    median = statistics.median(x or 0.0 for x in ratios)
    return [
        Verdict(
            _CRITICAL,
            _per_task(wrong, ratios) + f"; median {_ratio(median)}",
            all(x is not None and x >= CRITICAL_GOAL for x in ratios),
        ),
        Verdict(_COMPUTE, _per_task(wrong, compute), all(x is not None and x <= GOAL_K for x in compute)),
    ]


_CRITICAL = (
    f"k = {GOAL_K}: >= {CRITICAL_GOAL:g}x less critical-path training time to the threshold than k = 1, "
    "on every task where the first guess is not the kept change"
)
_COMPUTE = f"k = {GOAL_K}: total compute <= {GOAL_K}x k = 1's on those tasks"


def _per_task(rows: Sequence[Mapping[str, Any]], values: Sequence[float | None]) -> str:
    return ", ".join(f"{r['task']} {_ratio(v)}" for r, v in zip(rows, values, strict=True))


def _ratio(value: float | None) -> str:
    if value is None:
        return "— (neither reached)"
    if value == float("inf"):
        return "∞ (only k > 1 reached)"
    return f"{value:.2f}x"


def _cell(run: KRun | None) -> str:
    if run is None:
        return "—"
    state = (
        f"reached ({run.rounds[-1].accuracy:.3f})"
        if run.reached
        else f"**not reached** (best {run.best:.3f})"
    )
    return (
        f"{len(run.rounds)} round(s), {state}; critical {run.critical_s:.1f} s ({run.critical_steps} in a row), "
        f"compute {run.compute_s:.1f} s "
        f"({run.trainings} trainings); wall {run.wall_s:.0f} s, load {run.load[0]:.1f}-{run.load[1]:.1f}"
    )


def _round_lines(run: KRun) -> list[list[str]]:
    lines = []
    for n, r in enumerate(run.rounds, start=1):
        tried = "; ".join(
            f"{c.index} {c.change} "
            + ("failed" if c.accuracy is None else f"{c.accuracy:.3f}")
            + ("" if c.train_s is None else f" {c.train_s:.1f} s")
            + (" **kept**" if c.kept else "")
            for c in r.candidates
        )
        own = "ahead: the kept candidate's" if r.ahead else f"{r.train_s:.1f} s"
        lines.append([run.task, str(run.k), str(n), f"{r.accuracy:.3f}, {own}", tried or "—"])
    return lines


def render(result: Mapping[str, Any]) -> str:
    runs: dict[tuple[str, int], KRun] = {(r.task, r.k): r for r in result["runs"]}
    header = ["task / threshold", *(f"k = {k}" for k in KS), "first guess wrong (k = 3)"]
    header += [f"k = 1 / k = {k} critical" for k in KS[1:]] + [f"k = {k} / k = 1 compute" for k in KS[1:]]
    rows = [
        [
            f"{r['task']} / {result['thresholds'].get(r['task'], 0):g}",
            *(_cell(runs.get((r["task"], k))) for k in KS),
            "yes" if r["first_guess_wrong"] else "no",
            *(_ratio(r["speedup"].get(k)) for k in KS[1:]),
            *(_ratio(r["compute_ratio"].get(k)) for k in KS[1:]),
        ]
        for r in result["rows"]
    ]
    per_round = [line for run in result["runs"] for line in _round_lines(run)]
    return "\n".join(
        [
            "## k = 1, 2, 3 candidates per missed round: critical path and compute to the threshold",
            "",
            "One `keras-ct loop --commit --policy diagnose --candidates k --jobs 1` per task and k (candidates "
            "trained one after another, so no training's seconds are inflated by another's on the shared "
            "cores). Seconds are the metrics files' fit seconds. Critical path: each round's training plus "
            "its slowest candidate's (k runners side by side), where a round that took the kept candidate's "
            "training (train.ahead, *ahead* below) adds none of its own; compute: every training.",
            "",
            markdown_table(header, rows),
            "",
            markdown_table(["goal", "measured", "verdict"], verdict_rows(result["verdicts"])),
            "",
            "Per round (accuracy and seconds of the round of record; candidates tried after it, in the policy's order):",
            "",
            markdown_table(
                ["task", "k", "round", "round", "candidates: rank change accuracy seconds"], per_round
            ),
            "",
        ]
    )
