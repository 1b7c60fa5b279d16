"""Turn the measurements into figures and verdicts (``policy_results``) and Markdown (``render``)."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench import candidates, versus
from bench.stats import (
    PolicyRun,
    Summary,
    Verdict,
    WarmCase,
    at_most,
    compare_policies,
    markdown_table,
    verdict_rows,
)

WARM_GOAL = 0.30


def policy_results(
    loops: Sequence[Mapping[str, Any]], trajectories: Sequence[Mapping[str, Any]], tasks: Mapping[str, Any]
) -> dict[str, Any]:
    """Policy comparison and warm-start figures from the loops and their replays."""
    replayed = {(t["task"], t["policy"]): t for t in trajectories}
    runs: list[PolicyRun] = []
    reproduced: dict[str, float] = {}
    for lp in loops:
        key = (lp["task"], lp["policy"])
        t = replayed.get(key)
        reps = t["reps"] if t else []
        train_s = [sum(r["warm"]["fit_s"] for r in rep) for rep in reps] or [
            sum(r["duration_s"] for r in lp["rounds"])
        ]
        if reps:
            diffs = [
                abs(r["warm"]["accuracy"] - lr["accuracy"])
                for r, lr in zip(reps[0], lp["rounds"], strict=True)
            ]
            reproduced[f"{lp['task']}/{lp['policy']}"] = max(diffs, default=0.0)
        runs.append(
            PolicyRun(
                task=lp["task"],
                policy=lp["policy"],
                rounds=len(lp["rounds"]),
                reached=lp["reached"],
                epochs=sum(r["epochs"] for r in lp["rounds"]),
                train_s=train_s,
                final_accuracy=lp["rounds"][-1]["accuracy"] if lp["rounds"] else 0.0,
                changes=tuple(lp["changes"]),
                stopped=lp["stopped"],
                trajectory=tuple(
                    (hashlib.sha256(src.encode()).hexdigest()[:12], r["epochs"])
                    for src, r in zip(lp["sources"], lp["rounds"], strict=True)
                ),
            )
        )
    comparison = compare_policies(runs)
    start = {lp["task"]: lp["rounds"][0]["accuracy"] for lp in loops if lp["rounds"]}
    return {
        "runs": runs,
        "comparison": comparison,
        "start_accuracy": start,
        "thresholds": {name: tasks[name].threshold for name in start},
        "loop_wall_s": {f"{lp['task']}/{lp['policy']}": lp["wall_s"] for lp in loops},
        "reproduced_max_diff": reproduced,
        "warm": warm_results(loops, trajectories),
    }


def warm_results(
    loops: Sequence[Mapping[str, Any]], trajectories: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Every round after the first of a replayed loop, warm against cold: epochs/seconds to the cold accuracy."""
    changes = {(lp["task"], lp["policy"]): lp["changes"] for lp in loops}
    cases = []
    for t in trajectories:
        if not t.get("cold") or not t["reps"]:
            continue
        for index in range(1, len(t["reps"][0])):
            pairs = [
                WarmCase(
                    rep[index]["cold"]["test_curve"],
                    rep[index]["cold"]["epoch_s"],
                    rep[index]["warm"]["test_curve"],
                    rep[index]["warm"]["epoch_s"],
                    rep[index]["cold"].get("probes", ()),
                    rep[index]["warm"].get("probes", ()),
                )
                for rep in t["reps"]
            ]
            savings = [p.saving() for p in pairs]
            reached = [s for s in savings if s[0] is not None]
            change = changes.get((t["task"], t["policy"]), [])
            cases.append(
                {
                    "task": t["task"],
                    "policy": t["policy"],
                    "round": index + 1,
                    "change": change[index - 1] if index - 1 < len(change) else "",
                    "epochs": len(pairs[0].cold_curve),
                    "target": Summary.of([p.target for p in pairs]),
                    "cold_epochs": Summary.of([p.cold_epochs() for p in pairs]),
                    "warm_epochs": Summary.of([p.warm_epochs() for p in pairs if p.warm_epochs() is not None])
                    if reached
                    else None,
                    "reached": f"{len(reached)}/{len(pairs)}",
                    "epochs_saved": Summary.of([s[0] for s in reached]) if reached else None,
                    "seconds_saved": Summary.of([s[1] for s in reached if s[1] is not None])
                    if reached
                    else None,
                    "probe_saved": _maybe([p.probe_saving() for p in pairs]),
                    "probe_cold_s": _maybe([p.probe_seconds()[0] for p in pairs]),
                    "probe_warm_s": _maybe([p.probe_seconds()[1] for p in pairs]),
                    "cold_final": Summary.of([p.cold_curve[-1] for p in pairs]),
                    "warm_final": Summary.of([p.warm_curve[-1] for p in pairs]),
                }
            )
    verdicts = []
    if cases:
        # A warm start that never reached the cold accuracy saved nothing: count it as 0 %.
        per_case = [c["seconds_saved"].median if c["seconds_saved"] else 0.0 for c in cases]
        epochs_case = [c["epochs_saved"].median if c["epochs_saved"] else 0.0 for c in cases]
        overall = statistics.median(per_case)
        verdicts.append(
            Verdict(
                "warm start reaches the cold start's accuracy with >= 30% less training time "
                "(whole epochs, median over rounds)",
                f"{overall:.0%} less time, {statistics.median(epochs_case):.0%} fewer epochs",
                overall >= WARM_GOAL,
            )
        )
        by_policy = {}
        for c, saved in zip(cases, per_case, strict=True):
            by_policy.setdefault(c["policy"], []).append(saved)
        verdicts.append(
            Verdict(
                "the same over the rounds of the default policy's loops (diagnose); naive alongside",
                "; ".join(
                    f"{k}: {statistics.median(v):.0%} over {len(v)} rounds" for k, v in by_policy.items()
                ),
                bool(by_policy.get("diagnose")) and statistics.median(by_policy["diagnose"]) >= WARM_GOAL,
            )
        )
        if all(c["probe_cold_s"] is not None for c in cases):
            probed = [c["probe_saved"].median if c["probe_saved"] else 0.0 for c in cases]
            finer = statistics.median(probed)
            verdicts.append(
                Verdict(
                    "the same, timed to a quarter epoch (test accuracy probed 4 times per epoch)",
                    f"{finer:.0%} less time (median over rounds)",
                    finer >= WARM_GOAL,
                )
            )
        last = {}
        for c in cases:  # the last replayed round of each loop: the model the loop ends with
            last[(c["task"], c["policy"])] = c
        worst_final = min(c["warm_final"].median - c["cold_final"].median for c in last.values())
        verdicts.append(
            Verdict(
                "warm start never lowers the final accuracy (the last round of every loop)",
                f"worst warm - cold: {worst_final:+.4f} over {len(last)} loops",
                worst_final >= 0.0,
            )
        )
        worst = min(c["warm_final"].median - c["cold_final"].median for c in cases)
        verdicts.append(
            Verdict(
                "warm start never lowers the accuracy of any round (stricter: every round of every loop)",
                f"worst warm - cold: {worst:+.4f} over {len(cases)} rounds",
                worst >= 0.0,
            )
        )
    return {"cases": cases, "verdicts": verdicts}


def _maybe(values: Sequence[float | None]) -> Summary | None:
    present = [v for v in values if v is not None]
    return Summary.of(present) if present else None


def _s(summary: Summary | None, digits: int = 2, unit: str = "") -> str:
    return "—" if summary is None else summary.fmt(digits, unit)


def _pct(summary: Summary | None) -> str:
    return "—" if summary is None else f"{summary.median:.0%} ({summary.low:.0%} to {summary.high:.0%})"


def render(results: Mapping[str, Any]) -> str:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    out = [
        "# keras-ct benchmark results",
        "",
        f"Command: `{results['command']}`; each figure: median (min-max, n runs), n = {results['repeats']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {m['gpu']}; Python {m['python']}; {versions}; "
        f"{m['platform']}. Load average at start {tuple(round(x, 2) for x in m['load_average_start'])}, at end "
        f"{tuple(round(x, 2) for x in m.get('load_average_end', ()))} (the CPU was shared). {m['date']}, "
        f"whole benchmark {results.get('bench_wall_s', 0):.0f} s.",
        "",
    ]
    sections = {"overhead": _overhead_md, "policy": _policy_md, "versus": _versus_md, "rounds": _rounds_md}
    sections["candidates"] = lambda r: [candidates.render(r["candidates"])]
    for name, section in sections.items():
        if name in results:
            out += section(results)
    return "\n".join(out)


def _overhead_md(results: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    o = results["overhead"]
    verdicts = [
        at_most("`keras-ct run` / bare wall time <= 1.05", o["ratio"], 1.05),
        at_most("orchestrator's own time outside training < 1 s", o["own_s"], 1.0, unit=" s"),
        at_most("orchestrator peak RSS < 100 MB", o["peak_rss_mb"], 100.0, digits=1, unit=" MB"),
    ]
    out += [
        "## Orchestrator overhead",
        "",
        f"`{o['train_command']}` bare against `keras-ct run` (same command, threshold met, fake GitHub "
        f"server in the loop: {o['api_requests_per_run']:.0f} API requests per run), interleaved A/B.",
        "",
        markdown_table(
            ["figure", "median (min-max, n)"],
            [
                ["bare train command, wall", _s(o["bare_s"], unit=" s")],
                ["`keras-ct run`, wall", _s(o["run_s"], unit=" s")],
                ["ratio run / bare (paired)", _s(o["ratio"], 3)],
                ["orchestrator's own time (wall - training subprocess)", _s(o["own_s"], unit=" s")],
                ["orchestrator's own CPU time", _s(o["own_cpu_s"], unit=" s")],
                [
                    "orchestrator peak RSS (getrusage, keras-ct process only)",
                    _s(o["peak_rss_mb"], 1, " MB"),
                ],
                [
                    "TensorFlow/Keras imported by the orchestrator",
                    "yes" if o["tensorflow_imported"] else "no",
                ],
            ],
        ),
        "",
        markdown_table(["goal", "measured", "verdict"], verdict_rows(verdicts)),
        "",
    ]
    return out


def _policy_rows(p: Mapping[str, Any]) -> list[list[str]]:
    """One row per task (diagnose beside naive), then the two totals."""
    comp = p["comparison"]
    rows = []
    for entry in comp["tasks"]:
        d, n = entry["diagnose"], entry["naive"]
        rows.append(
            [
                entry["task"],
                f"{p['start_accuracy'].get(entry['task'], 0):.3f} / {p['thresholds'].get(entry['task'], 0):g}",
                _run_cell(d),
                _s(entry["diagnose_s"], unit=" s"),
                _run_cell(n),
                _s(entry["naive_s"], unit=" s"),
                f"{entry['ratio']:.2f}x" + (" (same models and epochs)" if entry["same_training"] else ""),
            ]
        )
    total = comp["total"]
    rows.append(
        [
            "**total, tasks both reached**",
            "",
            "",
            f"{total['diagnose']:.1f} s",
            "",
            f"{total['naive']:.1f} s",
            f"{total['ratio']:.2f}x",
        ]
    )
    rows.append(
        [
            "total seconds spent, every task",
            "",
            "",
            f"{total['all_diagnose']:.1f} s",
            "",
            f"{total['all_naive']:.1f} s",
            f"{total['all_ratio']:.2f}x",
        ]
    )
    return rows


def _policy_md(results: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    p = results["policy"]
    comp = p["comparison"]
    rows = _policy_rows(p)
    out += [
        "## Rounds and training time to the threshold: diagnose vs naive",
        "",
        "One real `keras-ct loop --policy X --commit` per task and policy (warm start on, the default) "
        "gives the rounds; the training seconds are the median over replays of every round of that loop "
        "(same models, epochs and warm starts, one process). Replayed accuracies differ from the loop's "
        "by at most " + ", ".join(f"{k} {v:.4f}" for k, v in p["reproduced_max_diff"].items()) + ".",
        "",
        markdown_table(
            [
                "task",
                "start acc / threshold",
                "diagnose",
                "diagnose train s",
                "naive",
                "naive train s",
                "naive/diagnose",
            ],
            rows,
        ),
        "",
        markdown_table(["goal", "measured", "verdict"], verdict_rows(comp["verdicts"])),
        "",
    ]
    out += _warm_md(p["warm"])
    return out


def _warm_md(warm: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if warm["cases"]:
        wrows = [
            [
                f"{c['task']} ({c['policy']}) round {c['round']}: {c['change']}",
                f"{c['target'].median:.3f}",
                f"{c['cold_epochs'].median:.0f} of {c['epochs']}",
                "never" if c["warm_epochs"] is None else f"{c['warm_epochs'].median:.0f} ({c['reached']})",
                _pct(c["epochs_saved"]),
                _pct(c["seconds_saved"]),
                "—"
                if c["probe_cold_s"] is None
                else f"{c['probe_cold_s'].median:.2f} → "
                + ("never" if c["probe_warm_s"] is None else f"{c['probe_warm_s'].median:.2f}")
                + f" ({_pct(c['probe_saved'])})",
                f"{c['cold_final'].median:.3f} → {c['warm_final'].median:.3f}",
            ]
            for c in warm["cases"]
        ]
        out += [
            "## Warm start",
            "",
            "Every round after the first, replayed warm (from the previous round's weights, as the loop "
            "does) and cold (fresh initialisation), same seed and epochs: the epoch at which the test "
            "accuracy first reaches the cold run's final accuracy, and the training seconds to get there.",
            "",
            markdown_table(
                [
                    "round",
                    "cold final acc (target)",
                    "cold epochs",
                    "warm epochs",
                    "epochs saved",
                    "seconds saved",
                    "s to target, 1/4-epoch probes: cold → warm (saved)",
                    "final acc cold → warm",
                ],
                wrows,
            ),
            "",
            markdown_table(["goal", "measured", "verdict"], verdict_rows(warm["verdicts"])),
            "",
        ]
    return out


def _versus_md(results: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    t = results["tuner"]
    sizing = versus.SIZING.format(**t["max_trials"], seeds=t["seeds"], repeats=results["repeats"])
    out.append(versus.render(results["versus"], results["policy"]["thresholds"], sizing))
    return out


def _rounds_md(results: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    r = results["rounds"]
    rows = [
        ["keras-ct set-up: fresh venv + `pip install` (pip cache warm)", _s(r["install_s"], unit=" s")],
        ["`keras-ct --version` (interpreter + package start)", _s(r["cli_start_s"], unit=" s")],
    ]
    if "tf_import_s" in r:
        rows += [
            ["orchestrator's own time per round", _s(r["orchestrator_own_s"], unit=" s")],
            ["TensorFlow + model import in the training process", _s(r["tf_import_s"], unit=" s")],
            ["data load (digits, scikit-learn) in the training process", _s(r["data_load_s"], unit=" s")],
        ]
    out += [
        "## rounds-per-job: what one more round in the same job saves",
        "",
        markdown_table(["per-round cost", "median (min-max, n)"], rows),
        "",
    ]
    if "reuse_saved_s" in r:
        imports, data = r["round2_import_s"], r["round2_data_s"]
        reuse_rows = [
            ["2-round `keras-ct loop`, one reused training process", _s(r["loop_reused_s"], unit=" s")],
            ["the same, a process per training and per build check", _s(r["loop_own_s"], unit=" s")],
            ["saved on the second round (paired)", _s(r["reuse_saved_s"], unit=" s")],
            [
                "round 2's import (TensorFlow, Keras, the model): reused → own process",
                f"{_s(imports['true'], 3, ' s')} → {_s(imports['false'], 3, ' s')}",
            ],
            [
                "round 2's data load (scikit-learn digits): reused → own process",
                f"{_s(data['true'], 3, ' s')} → {_s(data['false'], 3, ' s')}",
            ],
            [
                "same accuracies both ways",
                ("yes: " if r["reuse_same_accuracy"] else "**no**: ")
                + "; ".join("/".join(f"{a:.4f}" for a in accs) for accs in r["reuse_accuracies"]),
            ],
        ]
        out += [
            f"`reuse-training-process` (default on), measured with `{r['reuse_command']}`, interleaved:",
            "",
            markdown_table(["figure", "median (min-max, n)"], reuse_rows),
            "",
        ]
    return out


def _run_cell(run: PolicyRun) -> str:
    state = "reached" if run.reached else "**not reached**"
    changes = ", ".join(run.changes) if run.changes else "none"
    return (
        f"{run.rounds} round(s), {run.epochs} epochs, {state} ({run.final_accuracy:.3f}); changes: {changes}"
    )
