"""Replay loop trajectories in one process (TensorFlow imported once): the repeated timings.

    python bench/replay.py IN.json OUT.json

IN: ``{"repeats": 5, "trajectories": [{"task", "policy", "cold": bool, "rounds": [{"source",
"epochs"}, ...]}]}`` (each round's model file and epochs, as ``keras-ct loop`` trained them). For every
repeat each trajectory is trained again round by round, each round warm-started from the previous
round's model exactly as the loop does (``warm``), and, with ``cold``, also from scratch (``cold``),
recording the test accuracy after every epoch. Rounds are deterministic (fixed seed), so the replays
also check that the loop's accuracies are reproduced.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "action")]

from bench.tasks import TASKS  # noqa: E402
from bench.tasks.train import TrainResult, build_function, train  # noqa: E402

#: Test-accuracy probes per epoch: the seconds to reach a target are measured to a quarter epoch.
PROBES = 4


def _result(r: TrainResult) -> dict[str, Any]:
    return {
        "accuracy": r.accuracy,
        "fit_s": r.fit_s,
        "epoch_s": r.epoch_s,
        "test_curve": r.test_curve,
        "warm": r.warm,
        "probes": r.probes,
    }


def replay(trajectory: dict[str, Any], cold_first: bool = False) -> list[dict[str, Any]]:
    """One pass over the loop's rounds; ``cold_first`` alternates the order of the warm/cold pair."""
    task = TASKS[trajectory["task"]]
    rounds = []
    previous = None
    for spec in trajectory["rounds"]:
        build = build_function(source=spec["source"])
        entry: dict[str, Any] = {}
        want_cold = bool(trajectory.get("cold")) and previous is not None
        if want_cold and cold_first:
            entry["cold"] = _result(
                train(task, build, spec["epochs"], test_each_epoch=True, probes_per_epoch=PROBES)
            )
        warm = train(
            task, build, spec["epochs"], warm_from=previous, test_each_epoch=True, probes_per_epoch=PROBES
        )
        entry["warm"] = _result(warm)
        if want_cold and not cold_first:
            entry["cold"] = _result(
                train(task, build, spec["epochs"], test_each_epoch=True, probes_per_epoch=PROBES)
            )
        rounds.append(entry)
        previous = warm.model
    return rounds


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    spec = json.loads(Path(argv[0]).read_text())
    started = time.perf_counter()
    out: list[dict[str, Any]] = [{**t, "reps": []} for t in spec["trajectories"]]
    for rep in range(spec["repeats"]):
        for t in out:  # interleaved: every trajectory once per repeat, so load drifts hit all alike
            t["reps"].append(replay(t, cold_first=rep % 2 == 1))
            print(f"replay {rep + 1}/{spec['repeats']} {t['task']} {t['policy']}", flush=True)
    Path(argv[1]).write_text(json.dumps({"trajectories": out, "wall_s": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
