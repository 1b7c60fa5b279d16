"""``fan-out: runners``: a missed round's k candidates trained on k runners, the best kept by a gather job.

Three stages of the reusable workflow (docs/candidates.md), each a ``keras-ct`` command:

* **propose** (the train job, ``keras-ct run``): round N trains and misses; ``proposer`` makes the
  policy's top k changes (``round.trials.propose_trials``, each in its own copy of the tree), writes
  each as a branch-less commit on HEAD, pushes them under ``refs/keras-ct/candidates/<pr>/<N>/<i>``
  and stops the round with ``FannedOut`` (nothing committed to the branch, nothing dispatched, no
  comment yet); the job's ``matrix`` output lists them.
* **try** (one matrix job per candidate, ``keras-ct try``): trains its commit as round N + 1 with the
  ordinary training path (``round.training.train``) and writes a ``CandidateResult`` file.
* **gather** (``keras-ct gather``): the engine again, for round N, over the train job's metrics file
  (``Recorded``: nothing trains), with ``gatherer`` as its augmenter: it reads the k results (a
  missing one is a failed candidate), keeps one with ``round.candidates.choose`` and puts that
  commit's file in the tree; the engine commits it with every candidate's trailer, pushes, comments,
  sets the status and dispatches once, as with k processes.
"""

from __future__ import annotations

import difflib
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol

from keras_ct.config import Config
from keras_ct.errors import AugmentError, MetricsError, TrainingError
from keras_ct.round.candidates import CandidateResult, choose
from keras_ct.round.history import RoundRecord
from keras_ct.round.training import train
from keras_ct.runner import Runner
from keras_ct.train import ahead
from keras_ct.train.launch import trained_model
from keras_ct.train.trainer import Trainer, Training, TrainRun

if TYPE_CHECKING:
    from keras_ct.augment import AugmentResult
    from keras_ct.round.engine import Augmenter
    from keras_ct.round.trials import Propose

#: Where the candidates' commits live on the remote: outside refs/heads (no branch, no push event).
REF_ROOT = "refs/keras-ct/candidates"
#: The file a candidate job writes its result to (in its output-dir), uploaded as its artifact.
RESULT_FILE = "candidate.json"


@dataclass(frozen=True)
class Entry:
    """One candidate, as the matrix carries it: its rank, the round it trains as, its commit, its
    change and the file it changes (relative to working-directory)."""

    candidate: int
    round: int
    sha: str
    change: str
    path: str
    description: str
    rationale: str


class FannedOut(Exception):  # not an error: the round goes on in the matrix jobs
    """Round ``record.round`` missed and its candidates were pushed: the engine stops here."""

    def __init__(self, record: RoundRecord, entries: Sequence[Entry]) -> None:
        super().__init__(f"round {record.round}: {len(entries)} candidates fanned out")
        self.record = record
        self.entries = tuple(entries)


class CandidateGit(Protocol):
    """The git edge the fan-out needs (``keras_ct.git.GitRepo``)."""

    def head(self) -> str: ...
    def commit_beside(self, path: Path | str, text: str, message: str) -> str: ...
    def push_refs(self, refs: Mapping[str, str]) -> None: ...
    def fetch_commits(self, shas: Sequence[str]) -> None: ...
    def parent(self, sha: str) -> str: ...
    def restore(self, sha: str, paths: Sequence[Path]) -> None: ...


# -- pure: the matrix, the results ------------------------------------------------------------------
def candidate_ref(pr: int | str, round_number: int, index: int) -> str:
    return f"{REF_ROOT}/{pr}/{round_number}/{index}"


def matrix_json(entries: Sequence[Entry]) -> str:
    """The ``strategy.matrix`` of the candidate job: one ``include`` entry per candidate."""
    return json.dumps({"include": [asdict(e) for e in entries]}, separators=(",", ":"))


def parse_entries(text: str) -> list[Entry]:
    """The matrix (``{"include": [...]}``) or one of its entries, back as ``Entry``s."""
    try:
        data = json.loads(text)
        items = data["include"] if isinstance(data, dict) and "include" in data else [data]
        return [Entry(**{k: item[k] for k in Entry.__dataclass_fields__}) for item in items]
    except (ValueError, TypeError, KeyError) as exc:
        raise AugmentError(f"not a keras-ct candidate matrix ({exc}): {text[:200]!r}") from None


def result_json(result: CandidateResult) -> str:
    return json.dumps(asdict(result))


def _artifact(kind: str, round_number: int, name: str) -> str:
    """The workflow's artifact names: ``keras-ct-[NAME-]KIND-N`` (a named model's start with its name)."""
    return f"keras-ct-{name + '-' if name else ''}{kind}-{round_number}"


def artifact_prefix(round_number: int, name: str = "") -> str:
    """The candidates' artifacts of round N: ``keras-ct-[NAME-]candidates-N-<i>``."""
    return _artifact("candidates", round_number, name)


def round_artifact(round_number: int, name: str = "") -> str:
    """The train job's artifact of round N (its model and metrics file): ``keras-ct-[NAME-]round-N``."""
    return _artifact("round", round_number, name)


def read_results(entries: Sequence[Entry], folder: Path, artifact: str) -> list[CandidateResult]:
    """Each candidate's result from ``folder/<artifact>-<i>/candidate.json``; a candidate whose job
    crashed, was cancelled or left no readable file is a failed one (no accuracy), never skipped."""
    results = []
    for e in entries:
        path = folder / f"{artifact}-{e.candidate}" / RESULT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            accuracy = data["accuracy"]
            samples = data.get("samples")
            results.append(
                CandidateResult(
                    e.candidate,
                    e.change,
                    None if accuracy is None else float(accuracy),
                    str(data["error"]),
                    samples=samples if isinstance(samples, int) and not isinstance(samples, bool) else None,
                )
            )
        except (OSError, ValueError, TypeError, KeyError):
            results.append(CandidateResult(e.candidate, e.change, None, "its job left no result"))
    return results


# -- propose (the train job) ------------------------------------------------------------------------
def proposer(git: CandidateGit, pr: int | str, propose: Propose) -> Augmenter:
    """The train job's augmenter with ``fan-out: runners``: push the candidates, then ``FannedOut``."""
    from keras_ct.round.trials import propose_trials

    def fan_out(cfg: Config, records: Sequence[RoundRecord]) -> NoReturn:
        record = records[-1]
        n = record.round
        trials = propose_trials(cfg, records, propose, cfg.out_dir / "candidates" / f"round-{n}")
        entries = []
        for t in trials:
            rel = t.change.path.relative_to(t.cfg.working_directory)
            what = t.change.description or t.change.change
            message = f"keras-ct: round {n}, candidate {t.index}: {what}\n\n{t.change.rationale}\n"
            sha = git.commit_beside(cfg.working_directory / rel, t.change.path.read_text("utf-8"), message)
            entries.append(
                Entry(t.index, n + 1, sha, t.change.change, rel.as_posix(), what, t.change.rationale)
            )
        git.push_refs({candidate_ref(pr, n, e.candidate): e.sha for e in entries})
        raise FannedOut(record, entries)

    return fan_out


# -- try (a matrix job) -----------------------------------------------------------------------------
def try_candidate(cfg: Config, runner: Runner, environ: Mapping[str, str], entry: Entry) -> CandidateResult:
    """Train this checkout (the candidate's commit) as round ``cfg.round``; write its result file."""
    try:
        done = train(cfg, runner, environ, cfg.round, trainer=Trainer())
        result = CandidateResult(
            entry.candidate, entry.change, done.metrics.value, samples=done.metrics.samples
        )
        # Kept for round N + 1 in case this candidate is kept: the checkpoint cache this job saves
        # brings it to that round's job, which then does not train this code again (train.ahead).
        ahead.keep(
            cfg,
            cfg.round,
            cfg.metrics_path(cfg.round),
            trained_model(cfg, cfg.round),
            done.seconds,
            f"candidate {entry.candidate} of round {cfg.round - 1}",
        )
    except (TrainingError, MetricsError) as exc:
        result = CandidateResult(entry.candidate, entry.change, None, exc.message.splitlines()[0])
    path = cfg.out_dir / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result_json(result), encoding="utf-8")
    shown = result.error or f"{cfg.metric} {result.accuracy:.4f}"
    runner.info(f"candidate {entry.candidate} ({entry.change}): {shown}")
    runner.set_outputs(
        {"result-file": str(path), "accuracy": "" if result.accuracy is None else str(result.accuracy)}
    )
    return result


# -- gather -----------------------------------------------------------------------------------------
class Recorded(Trainer):
    """Round N trained in the train job: its metrics file (``source``, downloaded) is put where the
    round reads it, and nothing trains here (the run is an empty process of this interpreter)."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def start(self, run: TrainRun, runner: Runner) -> Training:
        dest = Path(run.env["KERAS_CT_METRICS_FILE"])
        if not self.source.is_file():
            raise TrainingError(f"the train job's metrics file is missing ({self.source}): nothing to gather")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.source, dest)
        return Training(replace(run, argv=(sys.executable, "-c", "")), runner)


def gatherer(git: CandidateGit, entries: Sequence[Entry], results: Sequence[CandidateResult]) -> Augmenter:
    """The gather job's augmenter: keep one candidate (``choose``; ``TrainingError`` when all failed)
    and put its commit's file in the tree, where the engine commits it."""

    def gathered(cfg: Config, records: Sequence[RoundRecord]) -> AugmentResult:
        from keras_ct.augment import AugmentResult

        choice = choose(results, cfg.threshold)
        kept = next(e for e in entries if e.candidate == choice.kept.index)
        git.fetch_commits([kept.sha])
        if git.parent(kept.sha) != git.head():
            raise AugmentError(
                f"the branch moved since round {records[-1].round} trained (candidate {kept.candidate}'s "
                f"parent is {git.parent(kept.sha)[:7]}, the branch is at {git.head()[:7]}): nothing is kept"
            )
        path = cfg.working_directory / kept.path
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        git.restore(kept.sha, [path])
        after = path.read_text(encoding="utf-8")
        diff = "".join(
            difflib.unified_diff(
                before.splitlines(True), after.splitlines(True), f"a/{kept.path}", f"b/{kept.path}"
            )
        )
        return AugmentResult(
            path,
            kept.change,
            kept.rationale,
            kept.description,
            diff,
            None,
            None,
            (),
            True,
            candidates=choice.tried,
        )

    return gathered
