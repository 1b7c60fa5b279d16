"""The fake GitHub itself: its contract checks catch mismatches, its faults and admin endpoints work."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from keras_ct.github.api import upsert_sticky_comment
from keras_ct.github.client import GitHubClient
from keras_ct.github.retry import RetryPolicy
from tests.fake_github import contract
from tests.fake_github import state as standard
from tests.fake_github.process import FakeGitHubProcess
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import standard_state
from tests.modules import load_file

HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare_fake(github_openapi: dict[str, object]) -> Iterator[FakeGitHub]:
    """A fake whose violations the test inspects itself (no teardown assertion)."""
    with FakeGitHub(standard_state()) as fake:
        yield fake


def post(
    fake: FakeGitHub, path: str, body: Any, token: str = standard.WRITE_TOKEN, **headers: str
) -> requests.Response:
    return requests.post(
        fake.api_url + path,
        json=body,
        timeout=10,
        headers={**HEADERS, "Authorization": f"Bearer {token}", **headers},
    )


def test_a_request_body_that_breaks_the_contract_is_recorded_and_fails(bare_fake: FakeGitHub) -> None:
    answer = post(
        bare_fake,
        f"/repos/{standard.REPOSITORY}/statuses/{standard.HEAD_SHA}",
        {"state": "green", "context": "keras-ct"},
    )

    assert answer.status_code == 422
    [violation] = bare_fake.violations
    assert violation.kind == "request"
    assert "'green' is not one of ['error', 'failure', 'pending', 'success']" in violation.detail
    with pytest.raises(AssertionError, match="contract was broken 1 time"):
        bare_fake.assert_no_violations()
    assert bare_fake.repo(standard.REPOSITORY).statuses == []


def test_a_response_that_breaks_the_contract_is_recorded(
    bare_fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = bare_fake._comment_json

    def without_html_url(repo: Any, comment: Any) -> dict[str, Any]:
        document = original(repo, comment)
        del document["html_url"]
        return document

    monkeypatch.setattr(bare_fake, "_comment_json", without_html_url)

    answer = post(
        bare_fake, f"/repos/{standard.REPOSITORY}/issues/{standard.PR_NUMBER}/comments", {"body": "hello"}
    )

    assert answer.status_code == 201
    [violation] = bare_fake.violations
    assert violation.kind == "response" and "'html_url' is a required property" in violation.detail


def test_missing_api_headers_and_unknown_endpoints_are_violations(bare_fake: FakeGitHub) -> None:
    requests.get(
        f"{bare_fake.api_url}/repos/{standard.REPOSITORY}/pulls/{standard.PR_NUMBER}",
        timeout=10,
        headers={"Authorization": f"Bearer {standard.WRITE_TOKEN}"},
    )
    unknown = requests.get(
        f"{bare_fake.api_url}/repos/{standard.REPOSITORY}/releases",
        timeout=10,
        headers={**HEADERS, "Authorization": f"Bearer {standard.WRITE_TOKEN}"},
    )

    assert unknown.status_code == 404
    details = [(v.kind, v.detail.split(",")[0]) for v in bare_fake.violations]
    assert details == [
        ("client", "Accept is '*/*'"),
        ("client", "X-GitHub-Api-Version is None"),
        ("client", "no such endpoint in the fake (and keras-ct should not call it)"),
    ]


def test_read_only_token_gets_githubs_403_body(fake_github: FakeGitHub) -> None:
    answer = post(
        fake_github,
        f"/repos/{standard.REPOSITORY}/issues/{standard.PR_NUMBER}/comments",
        {"body": "x"},
        token=standard.READ_TOKEN,
    )

    assert answer.status_code == 403
    assert answer.json()["message"] == "Resource not accessible by integration"
    assert fake_github.repo(standard.REPOSITORY).comments == []


def test_comment_longer_than_githubs_limit_gets_422(fake_github: FakeGitHub) -> None:
    answer = post(
        fake_github,
        f"/repos/{standard.REPOSITORY}/issues/{standard.PR_NUMBER}/comments",
        {"body": "x" * 65537},
    )

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["message"] == "body is too long (maximum is 65536 characters)"


@pytest.mark.parametrize(
    ("kind", "route", "match"),
    [
        pytest.param("teapot", None, "unknown fault kind", id="kind"),
        pytest.param("error", "create_comment", "unknown route 'create_comment'", id="route"),
    ],
)
def test_a_fault_that_could_never_fire_is_refused(
    fake_github: FakeGitHub, kind: str, route: str | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fake_github.inject(kind, route=route)


def test_fault_counts_skip_then_fire(fake_github: FakeGitHub) -> None:
    fake_github.inject("error", route="get_pull", status=500, skip=1, times=1)
    url = f"{fake_github.api_url}/repos/{standard.REPOSITORY}/pulls/{standard.PR_NUMBER}"
    auth = {**HEADERS, "Authorization": f"Bearer {standard.WRITE_TOKEN}"}

    statuses = [requests.get(url, headers=auth, timeout=10).status_code for _ in range(3)]

    assert statuses == [200, 500, 200]


def test_standalone_process_serves_and_records_state(tmp_path: Path) -> None:
    with FakeGitHubProcess(tmp_path) as fake:
        fake.inject("error", route="create_commit_status", status=502)
        api = GitHubClient(
            standard.REPOSITORY,
            standard.WRITE_TOKEN,
            api_url=fake.api_url,
            timeout_s=10,
            retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05),
            sleep=lambda s: None,
        )
        upsert_sticky_comment(api, standard.PR_NUMBER, "<!-- m -->", "<!-- m -->\nround 1")
        api.create_commit_status(standard.HEAD_SHA, "pending", "Round 1 of 3: training", None)
        api.dispatch_workflow(
            standard.WORKFLOW_FILE, standard.HEAD_REF, {"round": "2", "pr-number": str(standard.PR_NUMBER)}
        )

        state = fake.state()
        fake.assert_no_violations()

    repo = state["repos"][standard.REPOSITORY]
    assert [c["body"] for c in repo["comments"]] == ["<!-- m -->\nround 1"]
    assert [s["state"] for s in repo["statuses"]] == ["pending"]
    assert [(d["ref"], d["inputs"]) for d in repo["dispatches"]] == [
        (standard.HEAD_REF, {"round": "2", "pr-number": "7"})
    ]
    assert [e["status"] for e in state["exchanges"] if e["route"] == "create_commit_status"] == [502, 201]
    dumped = json.loads(fake.dump_file.read_text())
    assert dumped["repos"][standard.REPOSITORY]["dispatches"] == repo["dispatches"]
    assert fake.proc is not None and fake.proc.returncode == 0


def test_setup_replaces_the_state_of_a_running_fake(tmp_path: Path) -> None:
    state = standard_state()
    state.repos[standard.REPOSITORY].workflows[0].inputs = ["round"]
    with FakeGitHubProcess(tmp_path) as fake:
        fake.setup(state)
        answer = requests.post(
            f"{fake.api_url}/repos/{standard.REPOSITORY}/actions/workflows/{standard.WORKFLOW_FILE}/dispatches",
            timeout=10,
            json={"ref": standard.HEAD_REF, "inputs": {"round": "2", "pr-number": "7"}},
            headers={**HEADERS, "Authorization": f"Bearer {standard.WRITE_TOKEN}"},
        )
        assert answer.status_code == 422
        assert answer.json()["message"] == 'Unexpected inputs provided: ["pr-number"]'
        assert fake.state()["repos"][standard.REPOSITORY]["dispatches"] == []


def test_synthesised_instances_validate_against_their_schemas(github_openapi: dict[str, object]) -> None:
    for flavour in contract.SPEC_FILES:
        spec = contract.spec_dict(flavour)
        for name in ("pull-request", "workflow-run", "issue-comment", "status", "workflow", "git-ref"):
            instance = contract.instance_of(flavour, name, {})
            assert (
                contract.validate_instance(spec, {"$ref": f"#/components/schemas/{name}"}, instance) is None
            )
        broken = contract.instance_of(flavour, "issue-comment", {"id": "not-a-number"})
        assert "is not of type 'integer'" in (
            contract.validate_instance(spec, {"$ref": "#/components/schemas/issue-comment"}, broken) or ""
        )


# -- tools/fetch_openapi.py -----------------------------------------------------------------------


def load_fetcher() -> ModuleType:
    return load_file("tools/fetch_openapi.py", "fetch_openapi")


def fake_tarball(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "openapi.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in [
            ("package/generated/api.github.com.json", '{"openapi": "3.0.3"}'),
            ("package/generated/ghes-3.17.json", '{"openapi": "3.0.3", "ghes": true}'),
            ("package/generated/api.github.com.deref.json", "{}"),
        ]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    digest = "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    return path, digest


def test_fetcher_extracts_only_the_two_descriptions_when_the_integrity_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher = load_fetcher()
    tarball, digest = fake_tarball(tmp_path)
    downloads: list[str] = []

    def download(url: str, target: Path, **_: object) -> str:
        downloads.append(url)
        target.write_bytes(tarball.read_bytes())
        return digest

    monkeypatch.setattr(fetcher, "download", download)
    monkeypatch.setattr(fetcher, "INTEGRITY", digest)
    dest = tmp_path / "out"

    paths = fetcher.ensure_openapi(dest)
    again = fetcher.ensure_openapi(dest)

    assert sorted(p.name for p in dest.iterdir()) == ["api.github.com.json", "ghes-3.17.json"]
    assert json.loads((dest / "ghes-3.17.json").read_text()) == {"openapi": "3.0.3", "ghes": True}
    assert paths == again and downloads == [fetcher.TARBALL_URL]  # the second call downloaded nothing


def test_fetcher_refuses_a_tarball_with_the_wrong_integrity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher = load_fetcher()
    tarball, digest = fake_tarball(tmp_path)
    monkeypatch.setattr(
        fetcher, "download", lambda url, target, **_: target.write_bytes(tarball.read_bytes()) and digest
    )
    dest = tmp_path / "out"

    with pytest.raises(fetcher.FetchError, match="integrity mismatch"):
        fetcher.ensure_openapi(dest)

    assert list(dest.iterdir()) == []


def test_fetcher_pins_the_published_package() -> None:
    fetcher = load_fetcher()
    assert fetcher.TARBALL_URL == "https://registry.npmjs.org/@octokit/openapi/-/openapi-23.0.2.tgz"
    assert fetcher.INTEGRITY.startswith("sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6")
    assert contract.SPEC_DIR == REPO_ROOT / ".cache" / "openapi" / fetcher.VERSION


def test_branches_follow_a_bare_repository_like_github_does(tmp_path: Path, fake_github: FakeGitHub) -> None:
    import subprocess

    def git(*args: str, cwd: Path = tmp_path) -> str:
        env = {
            "GIT_AUTHOR_NAME": "Ada",
            "GIT_AUTHOR_EMAIL": "a@example.com",
            "GIT_COMMITTER_NAME": "Ada",
            "GIT_COMMITTER_EMAIL": "a@example.com",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "PATH": "/usr/bin:/bin",
        }
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    bare = tmp_path / "origin.git"
    git("init", "--quiet", "--bare", str(bare))
    work = tmp_path / "work"
    git("init", "--quiet", str(work))
    (work / "model.py").write_text("x = 1\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "one", cwd=work)
    git("push", "--quiet", str(bare), f"HEAD:refs/heads/{standard.HEAD_REF}", cwd=work)
    fake_github.repo(standard.REPOSITORY).git_dir = str(bare)
    api = GitHubClient(standard.REPOSITORY, standard.WRITE_TOKEN, api_url=fake_github.api_url)

    def branch_sha(branch: str) -> str:
        """The branch's head as the fake's ref endpoint serves it (keras-ct's client never asks)."""
        url = f"{fake_github.api_url}/repos/{standard.REPOSITORY}/git/ref/heads/{branch}"
        answer = requests.get(
            url, headers={**HEADERS, "Authorization": f"Bearer {standard.WRITE_TOKEN}"}, timeout=10
        )
        answer.raise_for_status()
        return str(answer.json()["object"]["sha"])

    first = git("rev-parse", "HEAD", cwd=work)

    assert branch_sha(standard.HEAD_REF) == first == api.get_pull(standard.PR_NUMBER).head_sha
    (work / "model.py").write_text("x = 2\n")
    git("commit", "--quiet", "-am", "two", cwd=work)
    git("push", "--quiet", str(bare), f"HEAD:refs/heads/{standard.HEAD_REF}", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work)
    assert second != first
    assert branch_sha(standard.HEAD_REF) == second == api.get_pull(standard.PR_NUMBER).head_sha
    api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, {"round": "2"})
    assert fake_github.repo(standard.REPOSITORY).runs[0].head_sha == second
