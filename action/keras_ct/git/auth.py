"""How the token reaches git, and how it never reaches a message.

The token reaches git only on the commands that talk to the remote (``ls-remote``, ``push``), as an
``http.<server>/.extraheader`` in that one process's environment (``GIT_CONFIG_COUNT``): never in
``.git/config`` or any other file, never on a command line (``/proc/<pid>/cmdline`` is readable by
every process of the user), and only sent to the GitHub server's own URLs. Everything keras-ct shows
of a git command goes through ``redact``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence

from keras_ct.train.childenv import never_passed

_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_TOKEN_NAME = re.compile(r"TOKEN|SECRET|PASSW", re.IGNORECASE)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Hide credentials: ``https://user:token@host`` -> ``https://***@host``; each secret -> ``***``."""
    text = _CREDENTIALS_IN_URL.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def basic_credential(token: str) -> str:
    """The ``Authorization: basic`` value for ``token``, as actions/checkout sends it (mask it too)."""
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def auth_env(environ: Mapping[str, str], server_url: str, token: str) -> dict[str, str]:
    """Environment-only git config that sends ``token`` to ``server_url`` (after ``environ``'s own)."""
    try:
        count = int(environ.get("GIT_CONFIG_COUNT", "0") or "0")
    except ValueError:
        count = 0
    key = f"http.{server_url.rstrip('/')}/.extraheader"
    # An empty value first: it drops any header already configured for the server (a checkout that
    # persisted its credentials), so git sends one Authorization header, this one.
    entries = [(key, ""), (key, f"AUTHORIZATION: basic {basic_credential(token)}")]
    env = {"GIT_CONFIG_COUNT": str(count + len(entries))}
    for i, (name, value) in enumerate(entries, start=count):
        env[f"GIT_CONFIG_KEY_{i}"] = name
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """git's environment: the caller's (git needs its own: ``GIT_*``, ``SSH_AUTH_SOCK`` for signing),
    minus tokens, passwords and action inputs (hooks and filters run with it)."""
    return {k: v for k, v in environ.items() if not (never_passed(k) or _TOKEN_NAME.search(k))}
