"""The environment of every child process that runs repository code, built from an allow-list.

The train command, the reused training process and the augmenter's build check run code from the
pull request. They get what a Python/Keras program and the tools it starts need (``PATH``, ``HOME``,
the locale, temp folders, the interpreter's and the accelerator libraries' settings, the run's
non-secret GitHub context) and nothing else: no ``GITHUB_TOKEN``, no action inputs (``INPUT_*``,
which hold the token), no runner credentials (``ACTIONS_*``), no workflow command files
(``GITHUB_ENV``, ``GITHUB_PATH``, ``GITHUB_OUTPUT``...: writing them changes the job's later steps,
some of which hold a token). A variable the training needs besides these (``WANDB_API_KEY``, a
dataset URL) is named in ``train-env``.

``child_env`` is pure: it maps one environment to another. ``conceal`` is the one edge here: a child
can read its parent's ``/proc/<pid>/environ`` (same user), which shows the environment keras-ct was
started with (``INPUT_GITHUB-TOKEN``); ``repository_env`` blanks the secrets there, then builds the
child's environment: the one function every start of repository code goes through.
"""

from __future__ import annotations

import ctypes
import fnmatch
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypedDict, Unpack

from keras_ct.errors import ConfigError

#: Passed through as they are: the process's identity, locale, time zone, temp folders, shared
#: libraries, certificates and proxies (a dataset download needs them on a proxied runner), and the
#: run's context that says which code is trained where (no credentials among them).
ALLOWED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "HOSTNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "MPLCONFIGDIR",
        "CI",
        "GITHUB_ACTIONS",
        "RUNNER_OS",
        "RUNNER_ARCH",
        "RUNNER_NAME",
        "RUNNER_ENVIRONMENT",
        "RUNNER_TEMP",
        "RUNNER_TOOL_CACHE",
        "RUNNER_DEBUG",
        "GITHUB_SHA",
        "GITHUB_REF",
        "GITHUB_REF_NAME",
        "GITHUB_REF_TYPE",
        "GITHUB_HEAD_REF",
        "GITHUB_BASE_REF",
        "GITHUB_REPOSITORY",
        "GITHUB_REPOSITORY_OWNER",
        "GITHUB_RUN_ID",
        "GITHUB_RUN_NUMBER",
        "GITHUB_RUN_ATTEMPT",
        "GITHUB_WORKFLOW",
        "GITHUB_JOB",
        "GITHUB_EVENT_NAME",
        "GITHUB_ACTOR",
        "GITHUB_WORKSPACE",
        "GITHUB_SERVER_URL",
        "GITHUB_API_URL",
        "GITHUB_GRAPHQL_URL",
    }
)
#: Passed through by prefix: the locale, the interpreter and its environments, the accelerator and
#: numeric libraries, the frameworks and their caches. A name among them that looks like a
#: credential (``HF_TOKEN``) is still left out; ``train-env`` can name it.
ALLOWED_PREFIXES = (
    "LC_",
    "XDG_",
    "PYTHON",
    "CONDA_",
    "CUDA",
    "CUDNN_",
    "NVIDIA_",
    "NCCL_",
    "TF_",
    "TFDS_",
    "KERAS_",
    "XLA_",
    "JAX_",
    "TORCH_",
    "OMP_",
    "MKL_",
    "KMP_",
    "OPENBLAS_",
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
)
#: Never passed, not even when ``train-env`` names them: keras-ct's own credentials and inputs, the
#: runner's, and the workflow command files.
NEVER_PREFIXES = ("INPUT_", "ACTIONS_", "STATE_")
NEVER_NAMES = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_OUTPUT",
        "GITHUB_STATE",
        "GITHUB_STEP_SUMMARY",
    }
)
#: A name that looks like a credential: left out unless ``train-env`` names it exactly.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|KEY|AUTH|COOKIE|SESSION", re.IGNORECASE)
#: A value that looks like a GitHub token (classic, fine-grained, app, OAuth, refresh).
_GITHUB_TOKEN_VALUE = re.compile(r"\b(gh[opsur]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")
_NAME_OR_PATTERN = re.compile(r"[A-Za-z_*?][A-Za-z0-9_*?]*")


def never_passed(name: str) -> bool:
    """Whether ``name`` is one keras-ct never hands to repository code, whatever ``train-env`` says."""
    return name.upper() in NEVER_NAMES or name.upper().startswith(NEVER_PREFIXES)


def looks_secret(name: str) -> bool:
    """Whether the name of a variable says it holds a credential (``*TOKEN*``, ``*KEY*``...)."""
    return bool(_SECRET_NAME.search(name))


def parse_names(raw: str | Iterable[str]) -> tuple[str, ...]:
    """``train-env``: names or ``*`` patterns, separated by commas or spaces (or a YAML list).

    Raises ``ValueError(allowed, hint)`` (the config parsers' form) for a bad or forbidden name.
    """
    items = re.split(r"[,\s]+", raw) if isinstance(raw, str) else [str(item) for item in raw]
    names = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    allowed = (
        "names of environment variables separated by commas or spaces, such as WANDB_API_KEY DATASET_URL"
    )
    for name in names:
        if not _NAME_OR_PATTERN.fullmatch(name):
            raise ValueError(allowed, f"{name!r} is not a variable name")
        if never_passed(name):
            raise ValueError(
                allowed,
                f"{name} never reaches the training: it is keras-ct's own token, an action input or a "
                "runner file; give the training a secret of its own under another name",
            )
    return names


def child_env(
    environ: Mapping[str, str],
    *,
    passed: Iterable[str] = (),
    secrets: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a child process that runs repository code.

    ``environ`` filtered by the allow-list (a name that looks like a credential, or a value that looks
    like a GitHub token, is left out even there), plus the variables ``passed`` names (``train-env``:
    exact names pass as they are, ``*`` patterns only match names that do not look like credentials),
    plus ``extra``. No variable whose value contains one of ``secrets`` (keras-ct's token) is ever
    passed: a ``train-env`` name holding it is an error, not a silent omission.
    """
    hidden = [s for s in secrets if s]
    exact = {name for name in passed if not any(c in name for c in "*?")}
    patterns = [name for name in passed if name not in exact]
    env: dict[str, str] = {}
    for name, value in environ.items():
        if never_passed(name):
            continue
        if name in exact:
            if any(secret in value for secret in hidden):
                raise ConfigError(
                    f"train-env names {name}, whose value contains keras-ct's github-token; the token never "
                    "reaches the training: give the training a token of its own under another name"
                )
            env[name] = value
            continue
        allowed = name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)
        if not allowed and not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            continue
        if looks_secret(name) or _GITHUB_TOKEN_VALUE.search(value):
            continue
        if any(secret in value for secret in hidden):
            continue
        env[name] = value
    env.update(extra or {})
    return env


class EnvOptions(TypedDict, total=False):
    """``child_env``'s options: names ``train-env`` passes on, secrets to withhold, extra variables."""

    passed: Iterable[str]
    secrets: Iterable[str]
    extra: Mapping[str, str] | None


def repository_env(environ: Mapping[str, str], **options: Unpack[EnvOptions]) -> dict[str, str]:
    """``child_env``, after ``conceal``: for a process about to run the repository's code."""
    options["secrets"] = secrets = tuple(options.get("secrets", ()))
    conceal(secrets)
    return child_env(environ, **options)


def conceal(secrets: Iterable[str] = ()) -> bool:
    """Overwrite with ``*``, in this process's own start-up environment (Linux), the value of every
    variable ``child_env`` withholds as a credential (``GITHUB_TOKEN``, ``INPUT_*``, ``*KEY*``...) and
    every occurrence of ``secrets``, so that ``/proc/<keras-ct>/environ`` no longer shows them to the
    children. ``os.environ``, a copy made at start-up, keeps them. True when something was
    overwritten; a no-op elsewhere, or when the kernel's account of the block is not what is in memory.
    """
    hidden = [s.encode() for s in secrets if s]
    if not sys.platform.startswith("linux"):
        return False
    try:
        stat = Path("/proc/self/stat").read_bytes()
        fields = stat[stat.rindex(b")") + 2 :].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end: fields 50 and 51
        shown = Path("/proc/self/environ").read_bytes()
    except (OSError, ValueError, IndexError):
        return False
    if not 0 < start < end or end - start != len(shown) or ctypes.string_at(start, end - start) != shown:
        return False
    spans: list[tuple[int, int]] = []
    offset = 0
    for entry in shown.split(b"\0"):
        name, equals, _ = entry.partition(b"=")
        text = name.decode(errors="replace")
        if equals and (never_passed(text) or looks_secret(text)):
            spans.append((offset + len(name) + 1, len(entry) - len(name) - 1))
        offset += len(entry) + 1
    for secret in hidden:
        at = shown.find(secret)
        while at != -1:
            spans.append((at, len(secret)))
            at = shown.find(secret, at + len(secret))
    changed = False
    for at, size in spans:
        if size > 0 and shown[at : at + size].strip(b"*"):
            ctypes.memset(start + at, ord("*"), size)
            changed = True
    return changed
