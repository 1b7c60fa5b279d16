"""keras-ct's benchmark: one command, a Markdown table and JSON, every figure a median of repeats.

    .venv/bin/python bench/run.py --out bench/out                 # everything (see RESULTS.md for time)
    .venv/bin/python bench/run.py --out bench/out --only overhead  # one section: overhead, policy, rounds

Sections (each figure is the median of ``--repeats`` runs, with min and max):

overhead  ``keras-ct run`` on ml_task (fake GitHub server in the loop) against the same train command
          run bare, interleaved A/B: wall-time ratio, the orchestrator's own time outside the training
          subprocess, its peak RSS and CPU time (``getrusage`` of the keras-ct process only).
policy    the task suite (bench/tasks): one real ``keras-ct loop --policy diagnose|naive --commit`` per
          task in a temporary git copy gives the rounds, changes and models; ``bench/replay.py``
          retrains every round of every loop ``--repeats`` times in one process for the training
          seconds, warm-started as the loop does, and cold too (the warm-start figures).
tuner     KerasTuner's RandomSearch and Hyperband on the same tasks (bench/tuner.py, one process), and
          every arm side by side (bench/versus.py): rounds or trials and training seconds to the
          threshold; needs the policy section in the same run.
rounds    what ``rounds-per-job`` saves per round: keras-ct set-up (fresh venv + pip install), the
          orchestrator's start, and what every training process pays (TensorFlow import, data load).
setup     the model's environment cached between jobs (bench/setup_cache.py): the second job's
          set-up (restore + verify) against the first's (create + install); downloads from PyPI.
candidates  ``keras-ct loop --candidates k --jobs 1`` for k = 1, 2, 3 per task: rounds, the critical path
          and the compute to the threshold (bench/candidates.py; not in the default run).

Everything but setup runs offline on the digits data and synthetic sequences; nothing outside the temporary
directory and ``--out`` is written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "action")]

from bench import candidates, report, setup_cache, versus  # noqa: E402
from bench.harness import KERAS_CT, PY, ROOT, clean_env, git, init_repo, machine, say, timed  # noqa: E402
from bench.overhead import overhead  # noqa: E402
from bench.stats import MIN_RUNS, PolicyRun, Summary, jsonable  # noqa: E402
from bench.tasks import TASKS  # noqa: E402
from keras_ct.train.metrics import meets  # noqa: E402

# -- policy loops and replays ----------------------------------------------------------------------------

WRAPPER = '''"""This task copy's training script; keras-ct's epochs change raises EPOCHS."""

import runpy
import sys

EPOCHS = {epochs}

sys.argv = [sys.argv[0], "--task", "{task}", "--epochs", str(EPOCHS)]
runpy.run_path("{script}", run_name="__main__")
'''


def loop(tmp: Path, task_name: str, policy: str, candidates: int = 1, jobs: int = 0) -> dict[str, Any]:
    """One real ``keras-ct loop --commit`` of the task in a fresh git copy (``candidates`` k per missed
    round, ``jobs`` of them at once; 0: all); the result carries its ``work`` folder."""
    task = TASKS[task_name]
    work = tmp / (f"{task_name}-{policy}" + (f"-k{candidates}" if candidates > 1 else ""))
    work.mkdir(parents=True)
    shutil.copy2(task.model_file, work / "model.py")
    # The epochs live in the copy's own training script, as in ml_task/train.py: keras-ct's epochs change
    # edits EPOCHS there and the next round's process reads it. (An --epochs in .keras-ct.yml's
    # train-command is read once per keras-ct process, so within one loop it would not change.)
    (work / "train.py").write_text(
        WRAPPER.format(epochs=task.epochs, task=task_name, script=HERE / "tasks" / "train.py")
    )
    (work / ".keras-ct.yml").write_text(
        f"model-file: model.py\ntrain-command: python train.py\nthreshold: {task.threshold}\n"
        f"max-rounds: {task.max_rounds}\npolicy: {policy}\ncandidates: {candidates}\n"
    )
    init_repo(work)
    env = clean_env(work)
    log = work / "loop.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        done = subprocess.run(
            [str(KERAS_CT), "loop", "--commit", *(["--jobs", str(jobs)] if jobs else [])],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return {
        **parse_loop(work, task_name, policy, time.perf_counter() - started, done.returncode),
        "work": str(work),
    }


def parse_loop(work: Path, task_name: str, policy: str, wall: float, returncode: int) -> dict[str, Any]:
    """What a finished loop in ``work`` did: per-round metrics, each round's model source, the changes."""
    task = TASKS[task_name]
    log = work / "loop.log"
    rounds = []
    for n in range(1, task.max_rounds + 1):
        path = work / ".keras-ct" / f"round-{n}" / "metrics.json"
        if not path.exists():
            break
        rounds.append(json.loads(path.read_text()))
    commits = git(work, "rev-list", "--reverse", "HEAD").split()
    sources, subjects = [], []
    for sha in commits[: len(rounds)]:
        sources.append(git(work, "show", f"{sha}:model.py"))
        subjects.append(git(work, "log", "-1", "--format=%s", sha).strip())
    epochs = [int(r["epochs"]) for r in rounds]
    changes = [s.split(": ", 2)[-1] for s in subjects[1:]]
    last_line = next((line for line in reversed(log.read_text().splitlines()) if line.strip()), "")
    return {
        "task": task_name,
        "policy": policy,
        "exit": returncode,
        "wall_s": wall,
        "rounds": [
            {
                "accuracy": r["accuracy"],
                "duration_s": r["duration_s"],
                "epochs": e,
                "warm_start": r.get("warm_start"),
            }
            for r, e in zip(rounds, epochs, strict=True)
        ],
        "sources": sources,
        "changes": changes,
        "reached": bool(rounds) and meets(rounds[-1]["accuracy"], task.threshold),
        "stopped": "" if returncode == 0 else last_line[:200],
    }


def policy_section(tmp: Path, repeats: int, tasks: list[str]) -> dict[str, Any]:
    loops = []
    for name in tasks:
        for policy in ("diagnose", "naive"):
            say(f"policy: keras-ct loop --policy {policy} on {name}")
            result = loop(tmp, name, policy)
            accs = ", ".join(f"{r['accuracy']:.3f}" for r in result["rounds"])
            say(
                f"  {len(result['rounds'])} round(s) [{accs}] reached={result['reached']} ({result['wall_s']:.0f}s)"
            )
            loops.append(result)
    spec = {
        "repeats": repeats,
        "trajectories": [
            {
                "task": lp["task"],
                "policy": lp["policy"],
                "cold": lp["policy"] == "diagnose" or lp["task"] == "digits_cnn",
                "rounds": [
                    {"source": s, "epochs": r["epochs"]}
                    for s, r in zip(lp["sources"], lp["rounds"], strict=True)
                ],
            }
            for lp in loops
            if lp["rounds"]
        ],
    }
    (tmp / "replay-in.json").write_text(json.dumps(spec))
    say(f"replays: {len(spec['trajectories'])} loops x {repeats} repeats in one process")
    env = clean_env(tmp)
    started = time.perf_counter()
    subprocess.run(
        [str(PY), str(HERE / "replay.py"), str(tmp / "replay-in.json"), str(tmp / "replay-out.json")],
        env=env,
        check=True,
    )
    replays = json.loads((tmp / "replay-out.json").read_text())
    say(f"replays done in {time.perf_counter() - started:.0f}s")
    raw = {"loops": loops, "trajectories": replays["trajectories"], "replay_wall_s": replays["wall_s"]}
    return {**report.policy_results(loops, replays["trajectories"], TASKS), "raw": raw}


# -- KerasTuner -------------------------------------------------------------------------------------------


def tuner_section(tmp: Path, tasks: list[str], seeds: int, caps: dict[str, int]) -> dict[str, Any]:
    searches = [
        {"task": t, "tuner": name, "seed": seed, "max_trials": caps[name]}
        for t in tasks
        for name in versus.TUNERS
        for seed in range(1, seeds + 1)
    ]
    (tmp / "tuner-in.json").write_text(json.dumps({"searches": searches}))
    say(f"tuner: {len(searches)} KerasTuner searches in one process")
    subprocess.run(
        [str(PY), str(HERE / "tuner.py"), str(tmp / "tuner-in.json"), str(tmp / "tuner-out.json")],
        env=clean_env(tmp),
        check=True,
    )
    found = json.loads((tmp / "tuner-out.json").read_text())["searches"]
    return {"searches": found, "seeds": seeds, "max_trials": caps}


def versus_results(results: dict[str, Any]) -> dict[str, Any]:
    """Every arm on every task from the policy and tuner sections: the table and the two goals."""
    arms = [versus.policy_arm(run) for run in results["policy"]["runs"]]
    grouped: dict[tuple[str, str], list[versus.Arm]] = {}
    for s in results["tuner"]["searches"]:
        arm = versus.tuner_arm(s["task"], s["tuner"], s["trials"], TASKS[s["task"]].threshold)
        grouped.setdefault((s["task"], s["tuner"]), []).append(arm)
    arms += [versus.merge_seeds(group) for group in grouped.values()]
    return versus.compare(arms)


# -- rounds per job --------------------------------------------------------------------------------------


def rounds_section(tmp: Path, repeats: int, overhead_result: dict[str, Any] | None) -> dict[str, Any]:
    work = tmp / "rounds"
    work.mkdir()
    env = clean_env(work)
    log = work / "log.txt"
    install = []
    for i in range(repeats):
        venv = work / f"venv-{i}"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        with log.open("ab") as out:
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "--quiet", str(ROOT)],
                check=True, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        install.append(time.perf_counter() - started)
        shutil.rmtree(venv)
        say(f"rounds: venv + pip install keras-ct {i + 1}/{repeats}: {install[-1]:.1f}s")
    start = [timed([str(KERAS_CT), "--version"], work, env, log) for _ in range(repeats)]
    result: dict[str, Any] = {"install_s": Summary.of(install), "cli_start_s": Summary.of(start)}
    result.update(reuse_pairs(work, env, log, repeats))
    if overhead_result is not None:
        timings = overhead_result["train_timings"]  # empty: the plain ml_task script times no phases
        for key, name in (("tf_import_s", "import_s"), ("data_load_s", "data_s")):
            if name in timings:
                result[key] = timings[name]
        result["orchestrator_own_s"] = overhead_result["own_s"]
    return result


REUSE_COMMAND = "python ml_task/train.py --dataset digits --epochs 3"


def reuse_pairs(work: Path, env: dict[str, str], log: Path, repeats: int) -> dict[str, Any]:
    """A two-round ``keras-ct loop`` of ml_task with ``reuse-training-process`` on and off, interleaved:
    the wall-time difference is what the reused process saves on each round after a job's first."""
    walls: dict[str, list[float]] = {"true": [], "false": []}
    second: dict[str, list[dict[str, Any]]] = {"true": [], "false": []}
    accuracies: dict[str, set[tuple[float, ...]]] = {"true": set(), "false": set()}
    for i in range(repeats):
        for reuse in ("true", "false") if i % 2 == 0 else ("false", "true"):
            job = work / f"reuse-{reuse}-{i}"
            (job / "ml_task").mkdir(parents=True)
            for name in ("model.py", "train.py"):
                shutil.copy2(ROOT / "ml_task" / name, job / "ml_task" / name)
            argv = [
                str(KERAS_CT), "loop", "--working-directory", str(job), "--train-command", REUSE_COMMAND,
                "--threshold", "0.999", "--max-rounds", "2", "--python", str(PY),
                "--reuse-training-process", reuse,
            ]  # fmt: skip
            walls[reuse].append(timed(argv, work, env, log))
            metrics = [
                json.loads((job / ".keras-ct" / f"round-{n}" / "metrics.json").read_text()) for n in (1, 2)
            ]
            second[reuse].append(metrics[1]["timings"])
            accuracies[reuse].add(tuple(m["accuracy"] for m in metrics))
            shutil.rmtree(job)
        say(
            f"rounds: 2-round loop, reused process {walls['true'][-1]:.1f}s, own processes {walls['false'][-1]:.1f}s"
        )
    return {
        "reuse_command": REUSE_COMMAND,
        "loop_reused_s": Summary.of(walls["true"]),
        "loop_own_s": Summary.of(walls["false"]),
        "reuse_saved_s": Summary.of([b - a for a, b in zip(walls["true"], walls["false"], strict=True)]),
        "round2_import_s": {k: Summary.of([t["import_s"] for t in v]) for k, v in second.items()},
        "round2_data_s": {k: Summary.of([t["data_s"] for t in v]) for k, v in second.items()},
        "reuse_same_accuracy": accuracies["true"] == accuracies["false"] and len(accuracies["true"]) == 1,
        "reuse_accuracies": sorted(accuracies["true"] | accuracies["false"]),
    }


def summaries(value: Any) -> Any:
    """results.json back to figures: ``{"median", "min", "max", "n"}`` objects become ``Summary``."""
    if isinstance(value, dict):
        if set(value) == {"median", "min", "max", "n"}:
            return Summary(value["median"], value["min"], value["max"], value["n"])
        return {k: summaries(v) for k, v in value.items()}
    if isinstance(value, list):
        return [summaries(v) for v in value]
    return value


def markdown(results: dict[str, Any]) -> str:
    return report.render(results) + setup_cache.render(results.get("setup"))


def rerender(out: Path) -> int:
    """Recompute the verdicts and tables from a results.json (after a change to bench/stats or report)."""
    results = summaries(json.loads((out / "results.json").read_text()))
    if "policy" in results:
        raw = results["policy"]["raw"]
        results["policy"] = {**report.policy_results(raw["loops"], raw["trajectories"], TASKS), "raw": raw}
    if "tuner" in results and "policy" in results:
        results["versus"] = versus_results(results)
    if "candidates" in results:
        results["candidates"] = candidates.revive(results["candidates"])
    (out / "results.json").write_text(json.dumps(jsonable(results), indent=1) + "\n")
    (out / "results.md").write_text(markdown(results))
    say(f"re-rendered {out / 'results.md'}")
    return 0


def tuner_caps(args: argparse.Namespace) -> dict[str, int]:
    """Each KerasTuner search's trial cap, by tuner name (``versus.TUNERS``)."""
    return {"random": args.max_trials, "hyperband": args.hyperband_trials}


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="results folder (default: bench/out)")
    parser.add_argument(
        "--repeats", type=int, default=MIN_RUNS, help=f"runs per figure (default: {MIN_RUNS})"
    )
    parser.add_argument("--only", default="overhead,policy,tuner,rounds", help="sections, comma-separated")
    parser.add_argument("--tasks", default=",".join(TASKS), help="policy tasks, comma-separated")
    parser.add_argument("--seeds", type=int, default=1, help="KerasTuner seeds per search (default: 1)")
    parser.add_argument(
        "--max-trials", type=int, default=12, help="KerasTuner RandomSearch trials per search (default: 12)"
    )
    parser.add_argument(
        "--hyperband-trials",
        type=int,
        default=40,
        help="KerasTuner Hyperband trials per search (default: 40)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--rerender", action="store_true", help="recompute the figures and tables from OUT/results.json only"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return command_line().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parser = command_line()
    args = parser.parse_args(argv)
    if args.rerender:
        return rerender(args.out)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"overhead", "policy", "tuner", "rounds", "setup", "candidates"}
    if unknown or args.repeats < 1:
        parser.error(f"unknown sections {sorted(unknown)}" if unknown else "--repeats must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="keras-ct-bench-"))
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "repeats": args.repeats, "command": " ".join(sys.argv)}
    try:
        if "overhead" in sections:
            results["overhead"] = overhead(tmp, args.repeats)
        if "policy" in sections:
            results["policy"] = policy_section(tmp, args.repeats, args.tasks.split(","))
        if "tuner" in sections:
            caps = tuner_caps(args)
            results["tuner"] = tuner_section(tmp, args.tasks.split(","), args.seeds, caps)
            if "policy" in results:
                results["versus"] = versus_results(results)
        if "rounds" in sections:
            results["rounds"] = rounds_section(tmp, args.repeats, results.get("overhead"))
        if "setup" in sections:
            base = str(Path(sys.base_prefix) / "bin" / "python3")
            results["setup"] = setup_cache.measure(tmp, args.repeats, base)
        if "candidates" in sections:
            results["candidates"] = candidates.section(tmp, args.tasks.split(","), loop)
    except BaseException:
        partial = args.out / "results-partial.json"
        partial.write_text(json.dumps(jsonable(results), indent=1) + "\n")
        say(f"stopped: the sections measured so far are in {partial}")
        raise
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"kept {tmp}")
    results["machine"]["load_average_end"] = os.getloadavg()
    results["bench_wall_s"] = time.perf_counter() - started
    (args.out / "results.json").write_text(json.dumps(jsonable(results), indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(results))
    say(f"wrote {args.out / 'results.md'} and results.json in {results['bench_wall_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["PolicyRun", "main"]
