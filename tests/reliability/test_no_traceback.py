"""No traceback reaches the user: every bad path, file or event is one `keras-ct: error:` line.

The cases of issue 11 section 5 run through the real entry point (``keras_ct.cli.main`` in-process, or
the console module in a subprocess where the file system must be read-only), then what a user sees is
asserted: the exit status, exactly one error line that names the path or input, and no traceback.
The property-based tests at the end feed generated configs, metrics files and command lines.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_ct import orchestrate
from keras_ct.cli import main
from keras_ct.config import FIELDS
from keras_ct.train.metrics import parse_metrics
from tests.integration.repo_setup import ROOT, pr_event
from tests.reliability.harness import World, run_cli

MODEL = (ROOT / "ml_task" / "model.py").read_text(encoding="utf-8")
#: A train command that only writes a passing metrics file (no TensorFlow, ~30 ms).
WRITES_METRICS = shlex.join(
    [
        sys.executable,
        "-c",
        "import json, os; open(os.environ['KERAS_CT_METRICS_FILE'], 'w')"
        ".write(json.dumps({'schema_version': 1, 'accuracy': 0.99}))",
    ]
)
#: A train command that cannot start: no process, no training.
CANNOT_TRAIN = "/nonexistent/keras-ct-no-trainer --epochs 1"


@dataclass
class Seen:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def error_lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.startswith(("keras-ct: error:", "::error"))]

    def one_error(self, code: int = 2) -> str:
        assert "Traceback" not in self.text, self.text[-3000:]
        assert self.code == code, self.text[-3000:]
        lines = self.error_lines()
        assert len(lines) == 1, f"expected one error line, got {lines}"
        return lines[0]


def local_env(tmp_path: Path) -> dict[str, str]:
    """A terminal's environment: no GitHub Actions variables, keras-ct's own variables unset."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "KERAS_CT_"))
    }
    env["KERAS_HOME"] = str(tmp_path / "keras-home")
    return env


def run_main(argv: Sequence[str], env: Mapping[str, str]) -> Seen:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv), dict(env))
        except SystemExit as exc:  # argparse's own usage error: a message and exit 2, no traceback
            code = exc.code if isinstance(exc.code, int) else 2
    return Seen(code, out.getvalue(), err.getvalue())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working directory with a valid model file (the round gets as far as its output paths)."""
    work = tmp_path / "work"
    (work / "ml_task").mkdir(parents=True)
    (work / "ml_task" / "model.py").write_text(MODEL, encoding="utf-8")
    return work


# -- the cases of issue 11 section 5 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "argv", "named"),
    [
        pytest.param(
            lambda w: (w / "adir").mkdir(),
            ["run", "--metrics-file", "{w}/adir"],
            "{w}/adir",
            id="metrics-file-is-a-directory",
        ),
        pytest.param(
            lambda w: (w / "afile").write_text("mine\n"),
            ["run", "--output-dir", "{w}/afile"],
            "{w}/afile",
            id="output-dir-is-a-file",
        ),
        pytest.param(
            lambda w: None,
            ["run", "--metrics-file", "/proc/nope/m.json"],
            "/proc/nope",
            id="metrics-file-cannot-be-created",
        ),
        pytest.param(
            lambda w: (w / "adir").mkdir(),
            ["loop", "--max-rounds", "1", "--report", "{w}/adir"],
            "{w}/adir",
            id="report-is-a-directory",
        ),
    ],
)  # fmt: skip
def test_a_bad_output_path_is_one_error_line(
    project: Path, tmp_path: Path, make: object, argv: list[str], named: str
) -> None:
    make(project)  # type: ignore[operator]
    args = [a.format(w=project) for a in argv]
    seen = run_main(
        [*args, "--working-directory", str(project), "--train-command", WRITES_METRICS], local_env(tmp_path)
    )
    line = seen.one_error(2)
    assert named.format(w=project) in line


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param(b"threshold: 0.9\n# caf\xe9 \xff\n", [".keras-ct.yml line 2 is not UTF-8 text", "save it as UTF-8"],
                     id="not-utf8"),
        pytest.param(b"threshold: !!python/object/apply:os.system [echo owned]\n",
                     [".keras-ct.yml line 1", "python/object/apply:os.system", "remove the tag"], id="python-tag"),
        pytest.param(b"threshold: 0.9\x00\n", [".keras-ct.yml is not valid YAML at line 1", "'\\x00'"],
                     id="nul-character"),
    ],
)  # fmt: skip
def test_an_unreadable_config_file_is_one_error_line(
    project: Path, tmp_path: Path, content: bytes, named: list[str]
) -> None:
    (project / ".keras-ct.yml").write_bytes(content)
    seen = run_main(
        ["run", "--working-directory", str(project), "--train-command", CANNOT_TRAIN], local_env(tmp_path)
    )
    line = seen.one_error(2)
    for text in named:
        assert text in line
    assert not (project / "owned").exists()


def _run_read_only(
    work: Path, argv: Sequence[str], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """The console module run with ``work`` read-only: a read-only bind mount in a private mount
    namespace when root (root writes through permissions; EROFS, as on a read-only volume), else a
    folder without write permission (EACCES)."""
    command = [sys.executable, "-m", "keras_ct", *argv]
    env = {**env, "PYTHONPATH": str(ROOT / "action")}
    if os.geteuid() == 0:
        where = shlex.quote(str(work))
        script = (
            f"mount --bind {where} {where} && mount -o remount,bind,ro {where} && exec {shlex.join(command)}"
        )
        argv_ro = ["unshare", "--map-root-user", "--mount", "sh", "-c", script]
        return subprocess.run(argv_ro, env=env, cwd=work, capture_output=True, text=True, timeout=60)
    work.chmod(0o555)
    try:
        return subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=60)
    finally:
        work.chmod(0o755)


def test_a_read_only_working_directory_is_one_error_line(project: Path, tmp_path: Path) -> None:
    done = _run_read_only(
        project,
        ["run", "--working-directory", str(project), "--train-command", WRITES_METRICS],
        local_env(tmp_path),
    )
    seen = Seen(done.returncode, done.stdout, done.stderr)
    line = seen.one_error(2)
    assert str(project) in line
    assert "read-only" in line.lower() or "may not write" in line
    assert not (project / ".keras-ct").exists()


# -- under Actions, a pull request and no token -------------------------------------------------------


def _no_token(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("INPUT_GITHUB-TOKEN", "GITHUB_TOKEN")}


def test_a_fork_pull_request_without_a_token_trains_and_says_why_it_writes_nothing(world: World) -> None:
    event = pr_event(world.checkout, fork="someone/ml-repo")
    env = _no_token(world.env())
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(event))
    result = run_cli(env)
    assert "Traceback" not in result.out + result.err
    assert result.code == 0
    assert not result.errors
    assert "keras-ct will not comment, push or dispatch: This pull request comes from a fork" in result.out
    assert "Round 1" in (world.tmp / "summary.md").read_text()  # the results are in the job summary
    assert world.fake.exchanges == []  # nothing was asked of GitHub: there is no token to ask with


def test_a_pull_request_of_the_repository_without_a_token_is_refused(world: World) -> None:
    result = run_cli(_no_token(world.env()))
    assert "Traceback" not in result.out + result.err
    assert result.code == 2
    error = result.one_error()
    assert "github-token" in error.message  # refused by connect, or earlier by a preflight: the same input
    assert world.fake.exchanges == []
    assert world.checkout.remote_head() == world.checkout.head()  # nothing pushed


# -- the last net in cli.main --------------------------------------------------------------------------


def test_an_os_error_no_edge_converted_names_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    monkeypatch.setattr(orchestrate, "run_augment", lambda *_: folder.open().read())
    seen = run_main(["augment", str(tmp_path / "model.py")], local_env(tmp_path))
    line = seen.one_error(2)
    assert f"cannot use {folder}: Is a directory" in line


@pytest.mark.parametrize("debug", [None, "KERAS_CT_DEBUG", "RUNNER_DEBUG"])
def test_an_internal_error_is_one_line_with_the_traceback_only_in_debug_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug: str | None
) -> None:
    def broken(*_: object) -> int:
        return {}["no-such-key"]  # type: ignore[no-any-return]

    monkeypatch.setattr(orchestrate, "run_augment", broken)
    env = local_env(tmp_path)
    if debug:
        env[debug] = "1"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["augment", str(tmp_path / "model.py")], env)
    assert code == 1
    lines = [line for line in err.getvalue().splitlines() if line.startswith("keras-ct: error:")]
    assert lines == [
        "keras-ct: error: internal error (KeyError: 'no-such-key'); this is a bug in keras-ct: please report "
        "it at https://github.com/keras-ct/keras-ct/issues ("
        + ("the traceback is above)" if debug else "set KERAS_CT_DEBUG=1 to see the traceback)")
    ]
    assert ("Traceback (most recent call last)" in err.getvalue()) == bool(debug)


def test_a_broken_step_summary_does_not_hide_the_error(project: Path, tmp_path: Path) -> None:
    env = {**local_env(tmp_path), "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path)}
    (project / ".keras-ct.yml").write_text("threshold: 2\n")
    seen = run_main(["run", "--working-directory", str(project), "--train-command", CANNOT_TRAIN], env)
    line = seen.one_error(2)
    assert line.startswith("::error") and "line 1 (threshold) must be a number between 0 and 1" in line
    assert (
        f"::warning::the step summary was not written: cannot write GITHUB_STEP_SUMMARY ({tmp_path})"
        in seen.out
    )


# -- property-based: generated configs, metrics files and command lines -------------------------------

#: Derandomized: the suite sees the same examples every run (a failure is reproducible, never flaky).
FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    derandomize=True,
)
NAMES = [spec.name for spec in FIELDS if not spec.secret]
#: Fields never generated: the train command and its interpreter are fixed (nothing may really run),
#: and the working directory is always the test's own folder.
FIXED = {"train-command", "python", "working-directory"}
#: Paths stay inside the test's folder, or go where nothing can be created or harmed.
PATHS = st.one_of(
    st.sampled_from([".", "out", "out/m.json", "ml_task", "ml_task/model.py", "afile", "adir", "adir/x",
                     "afile/x", "/proc/nope/m.json", "/proc/nope", "", " "]),
    st.from_regex(r"[a-z][a-z0-9_.-]{0,8}(/[a-z][a-z0-9_.-]{0,8}){0,2}", fullmatch=True),
)  # fmt: skip
PATH_FIELDS = {"model-file", "metrics-file", "output-dir", "checkpoint-dir"}
#: Text as argv and the environment carry it: any character but NUL, and the lone surrogates
#: U+DC80-U+DCFF that stand for bytes that are no UTF-8.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        st.sampled_from([chr(c) for c in range(0xDC80, 0xDD00)]),
    ),
    max_size=12,
)
VALUES = st.one_of(
    TEXT,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "yes", "0", "1", "28,28,1", "0x10", "1e309", "-1", "nan", "20", "21"]),
)


def _flag_value(name: str) -> st.SearchStrategy[str]:
    return PATHS if name in PATH_FIELDS else VALUES


FLAGS = st.lists(
    st.sampled_from([n for n in NAMES if n not in FIXED]).flatmap(
        lambda name: st.tuples(st.just(name), _flag_value(name))
    ),
    max_size=6,
)
YAML_SCALARS = st.one_of(
    VALUES.map(json.dumps),
    VALUES,
    st.sampled_from(
        ["!!python/object:os.system x", "[1, 2", "{a: 1}", "&a [*a]", "!!binary aGk=", "~", "|\n  x"]
    ),
)
YAML_TEXT = st.one_of(
    st.lists(
        st.tuples(st.sampled_from([*NAMES, "github-token", "max_round", "<<"]), YAML_SCALARS), max_size=5
    ).map(lambda pairs: "".join(f"{k}: {v}\n" for k, v in pairs)),
    st.text(max_size=60),
)
CONFIG_BYTES = st.one_of(YAML_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=60))


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh project folder per example (hypothesis runs many examples per test function)."""
    with tempfile.TemporaryDirectory(prefix="keras-ct-prop-") as tmp:
        work = Path(tmp) / "work"
        (work / "ml_task").mkdir(parents=True)
        (work / "adir").mkdir()
        (work / "afile").write_text("a user's file\n")
        with contextlib.chdir(work):
            yield work


def _assert_no_traceback(seen: Seen) -> None:
    assert "Traceback" not in seen.text, seen.text[-3000:]
    assert seen.code in (0, 1, 2), seen.text[-3000:]
    if seen.code != 0:
        assert seen.error_lines() or "usage: keras-ct" in seen.err, seen.text[-3000:]


def _actions_env(work: Path, event: object) -> dict[str, str]:
    event_path = work.parent / "event.json"
    event_path.write_text(json.dumps(event))
    return {
        **local_env(work.parent),
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/ml-repo",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_API_URL": "http://127.0.0.1:9",  # never reached: there is no token
        "GITHUB_OUTPUT": str(work.parent / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(work.parent / "summary.md"),
    }


EVENTS = st.one_of(
    st.just({}),
    st.builds(
        lambda number, head, base: {
            "number": number,
            "pull_request": {"number": number, "head": {"ref": "b", "repo": head}, "base": {"repo": base}},
        },
        st.integers(min_value=1, max_value=99),
        st.one_of(st.none(), st.just({"full_name": "acme/ml-repo"}), st.just({"full_name": "fork/ml-repo"})),
        st.one_of(st.none(), st.just({"full_name": "acme/ml-repo"})),
    ),
)


AUGMENT_FLAGS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["--change", "--policy", "--model-function"]), TEXT),
        st.tuples(st.just("--input-shape"), VALUES),
        st.tuples(st.just("--train-script"), PATHS),
    ),
    max_size=4,
)
MODEL_BYTES = st.one_of(
    st.none(),
    st.just(MODEL.encode()),
    st.just(b"\xef\xbb\xbf" + MODEL.encode()),
    st.just(b"# -*- coding: latin-1 -*-\n# mod\xe8le\n" + MODEL.encode()),
    st.binary(max_size=40),
)


@FAST
@given(
    command=st.sampled_from(["run", "loop", "augment"]),
    flags=FLAGS,
    augment_flags=AUGMENT_FLAGS,
    config=st.one_of(st.none(), CONFIG_BYTES),
    model=MODEL_BYTES,
    event=st.one_of(st.none(), EVENTS),
    augment_path=st.sampled_from(["ml_task/model.py", "adir", "afile", "missing.py"]),
)
def test_generated_configs_and_command_lines_never_show_a_traceback(
    command: str,
    flags: list[tuple[str, str]],
    augment_flags: list[tuple[str, str]],
    config: bytes | None,
    model: bytes | None,
    event: object,
    augment_path: str,
) -> None:
    """`run`/`loop` with random flags from FIELDS, a random `.keras-ct.yml` and maybe a pull-request
    event; `augment` with random flags. Nothing can train: the train command does not exist, and the
    build check's interpreter neither."""
    with _scratch() as work:
        if config is not None:
            (work / ".keras-ct.yml").write_bytes(config)
        if model is not None:
            (work / "ml_task" / "model.py").write_bytes(model)
        env = local_env(work.parent) if event is None else _actions_env(work, event)
        if command == "augment":
            argv = ["augment", augment_path, "--python", "/nonexistent/python", "--dry-run"]
            argv += [part for flag in augment_flags for part in flag]
        else:
            argv = [command, "--working-directory", str(work), "--train-command", CANNOT_TRAIN]
            for name, value in flags:
                if command == "loop" and name in ("commit", "push", "dispatch", "rounds-per-job"):
                    continue
                argv += [f"--{name}", value]
        _assert_no_traceback(run_main(argv, env))


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
METRIC_KEYS = [
    "schema_version",
    "accuracy",
    "history",
    "epochs",
    "params",
    "duration_s",
    "dataset",
    "initial_epoch",
]
METRICS_DOCS = st.one_of(
    st.dictionaries(st.sampled_from(METRIC_KEYS), JSON_VALUES, max_size=8).map(
        lambda d: json.dumps({"schema_version": 1, "accuracy": 0.5, **d})
    ),
    st.builds(
        lambda curves, extra: json.dumps({"schema_version": 1, "accuracy": 0.5, "history": curves, **extra}),
        st.dictionaries(st.sampled_from(["loss", "accuracy", "val_loss", "val_accuracy", "x"]),
                        st.lists(JSON_LEAVES, max_size=4), max_size=4),
        st.dictionaries(st.sampled_from(METRIC_KEYS[3:]), JSON_LEAVES, max_size=4),
    ),
    st.text(max_size=40),
    st.sampled_from(["[" * 5000 + "]" * 5000, '{"schema_version": 1, "accuracy": 1' + "0" * 5000 + "}"]),
)  # fmt: skip


@FAST
@given(doc=METRICS_DOCS)
def test_generated_metrics_documents_are_read_or_refused_with_a_message(doc: str) -> None:
    from keras_ct.errors import MetricsError

    try:
        metrics = parse_metrics(doc, Path("metrics.json"))
    except MetricsError as exc:
        assert exc.message.startswith("metrics file metrics.json")
    else:
        assert 0.0 <= metrics.value <= 1.0


@settings(FAST, max_examples=40)
@given(doc=METRICS_DOCS)
def test_generated_metrics_files_through_keras_ct_run_never_show_a_traceback(doc: str) -> None:
    with _scratch() as work:
        (work / "ml_task" / "model.py").write_text(MODEL, encoding="utf-8")
        (work / "generated.json").write_text(doc, encoding="utf-8")
        copy = shlex.join([shutil.which("cp") or "cp", str(work / "generated.json"), str(work / "m.json")])
        argv = ["run", "--working-directory", str(work), "--train-command", copy]
        argv += ["--metrics-file", "m.json", "--max-rounds", "1", "--threshold", "0.5"]
        seen = run_main(argv, local_env(work.parent))
        _assert_no_traceback(seen)


def test_an_argument_that_is_not_utf8_is_shown_escaped(project: Path, tmp_path: Path) -> None:
    # A byte that is no UTF-8 reaches Python's argv as a lone surrogate ("\udcff"): the message that
    # quotes it must still be written, to the log and to the step summary.
    summary = tmp_path / "summary.md"
    env = {**local_env(tmp_path), "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    argv = ["run", "--working-directory", str(project), "--threshold", "0.9\udcff"]
    seen = run_main([*argv, "--train-command", CANNOT_TRAIN], env)
    line = seen.one_error(2)
    assert line == '::error::threshold must be a number between 0 and 1, got "0.9\\udcff"'
    assert 'got "0.9\\udcff"' in summary.read_text(encoding="utf-8")


def test_a_train_command_with_a_long_inline_program_trains(project: Path, tmp_path: Path) -> None:
    """An argument longer than a file name may be (``python -c "<a program>"``) is no file name: the
    round trains it (it used to end in `File name too long` while looking for the training script)."""
    program = (
        "import json, os  # " + "x" * 300 + "\n"
        "open(os.environ['KERAS_CT_METRICS_FILE'], 'w').write(json.dumps({'schema_version': 1, 'accuracy': 0.99}))"
    )
    command = shlex.join([sys.executable, "-c", program])
    argv = ["loop", "--working-directory", str(project), "--train-command", command, "--threshold", "0.9"]
    seen = run_main(argv, local_env(tmp_path))
    assert seen.code == 0, seen.text[-2000:]
    assert "0.9900" in seen.text
