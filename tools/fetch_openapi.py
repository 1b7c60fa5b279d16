#!/usr/bin/env python3
"""Fetch GitHub's official OpenAPI description (npm ``@octokit/openapi``, pinned) for the tests.

The fake GitHub server in ``tests/fake_github`` validates every request and response against
``generated/api.github.com.json`` (and ``generated/ghes-3.17.json`` for an Enterprise run). This
script downloads the pinned npm tarball straight from the registry over HTTPS (no npm needed),
checks its sha512 integrity against the value pinned below, and extracts only those two files into
``.cache/openapi/<version>/`` at the repository root. It does nothing when both files are there.

Usage: ``python tools/fetch_openapi.py [--dest DIR] [--force]`` (standard library only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

VERSION = "23.0.2"
TARBALL_URL = f"https://registry.npmjs.org/@octokit/openapi/-/openapi-{VERSION}.tgz"
# The "integrity" field of the registry's metadata for this version (Subresource Integrity form).
INTEGRITY = "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
MEMBERS = ("package/generated/api.github.com.json", "package/generated/ghes-3.17.json")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO_ROOT / ".cache" / "openapi" / VERSION
ATTEMPTS = 3


class FetchError(Exception):
    """The description could not be downloaded or did not match the pinned integrity."""


def wanted_paths(dest: Path) -> list[Path]:
    """Where the extracted files land: ``dest/api.github.com.json`` and ``dest/ghes-3.17.json``."""
    return [dest / Path(member).name for member in MEMBERS]


def download(url: str, target: Path, *, timeout_s: float = 60.0) -> str:
    """Stream ``url`` into ``target``; return the SRI ``sha512-...`` digest of what was written."""
    digest = hashlib.sha512()
    last_error: Exception | None = None
    for attempt in range(1, ATTEMPTS + 1):
        digest = hashlib.sha512()
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, target.open("wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last_error = exc
            if attempt < ATTEMPTS:
                time.sleep(2.0 * attempt)
    raise FetchError(
        f"could not download {url} after {ATTEMPTS} attempts: {last_error}. The tests need GitHub's "
        "OpenAPI description; run this script once on a machine that can reach registry.npmjs.org, "
        f"or copy api.github.com.json and ghes-3.17.json from @octokit/openapi {VERSION} into {DEFAULT_DEST}"
    )


def extract(tarball: Path, dest: Path) -> list[Path]:
    """Extract only ``MEMBERS`` from the tarball into ``dest`` (flat), each written atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tarfile.open(tarball, "r:gz") as archive:
        for member_name in MEMBERS:
            try:
                member = archive.getmember(member_name)
            except KeyError as exc:
                raise FetchError(
                    f"{tarball.name} has no {member_name}; is the pinned version right?"
                ) from exc
            if not member.isfile():
                raise FetchError(f"{member_name} in {tarball.name} is not a regular file")
            source = archive.extractfile(member)
            if source is None:  # pragma: no cover - isfile() above rules this out
                raise FetchError(f"cannot read {member_name} from {tarball.name}")
            final = dest / Path(member_name).name
            with tempfile.NamedTemporaryFile(
                dir=dest, prefix=final.name, suffix=".part", delete=False
            ) as tmp:
                shutil.copyfileobj(source, tmp)
            os.chmod(tmp.name, 0o644)
            os.replace(tmp.name, final)
            written.append(final)
    return written


def ensure_openapi(dest: Path = DEFAULT_DEST, *, force: bool = False) -> list[Path]:
    """Make sure both description files exist under ``dest``; download only when one is missing."""
    paths = wanted_paths(dest)
    if not force and all(path.is_file() and path.stat().st_size > 0 for path in paths):
        return paths
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tarball = Path(tmp) / f"openapi-{VERSION}.tgz"
        got = download(TARBALL_URL, tarball)
        if got != INTEGRITY:
            raise FetchError(
                f"integrity mismatch for {TARBALL_URL}: expected {INTEGRITY}, got {got}. "
                "The download was corrupted or tampered with; nothing was extracted."
            )
        return extract(tarball, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dest", type=Path, default=DEFAULT_DEST, help=f"target folder (default {DEFAULT_DEST})"
    )
    parser.add_argument("--force", action="store_true", help="download again even when the files exist")
    args = parser.parse_args(argv)
    try:
        paths = ensure_openapi(args.dest, force=args.force)
    except FetchError as exc:
        print(f"fetch_openapi: error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
