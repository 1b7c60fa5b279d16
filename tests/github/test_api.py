"""keras_ct.github.api: the helpers over the interface (the sticky comment, the workflow to dispatch).

The sticky-comment helpers run against the fake GitHub through the real client; the fixtures fail a
test at teardown if any exchange broke GitHub's published contract.
"""

from __future__ import annotations

import pytest

from keras_ct.errors import GitHubError
from keras_ct.github.api import find_marked_comment, upsert_sticky_comment, workflow_file_from_ref
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import PR_NUMBER, REPOSITORY, Comment
from tests.github.clients import MARKER, comments, make_client, sent

# -- the sticky comment ------------------------------------------------------------------------


def test_sticky_comment_is_created_once_then_updated_in_place(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)

    first = upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\n| round 1 | 0.88 |")
    second = upsert_sticky_comment(
        api, PR_NUMBER, MARKER, f"{MARKER}\n| round 1 | 0.88 |\n| round 2 | 0.93 |"
    )

    assert second.id == first.id
    assert [c.body for c in comments(fake_github)] == [f"{MARKER}\n| round 1 | 0.88 |\n| round 2 | 0.93 |"]
    assert comments(fake_github)[0].user == "github-actions[bot]"
    assert second.html_url.endswith(f"/acme/ml-repo/pull/{PR_NUMBER}#issuecomment-{first.id}")
    assert (sent(fake_github, "create_issue_comment"), sent(fake_github, "update_issue_comment")) == (1, 1)


def test_sticky_comment_is_found_past_the_first_page(fake_github: FakeGitHub) -> None:
    repo = fake_github.repo(REPOSITORY)
    for n in range(230):
        repo.comments.append(
            Comment(id=10_000 + n, issue_number=PR_NUMBER, body=f"chatter {n}", user="octocat")
        )
    repo.comments.append(Comment(id=20_000, issue_number=PR_NUMBER, body=f"{MARKER}\nold report"))
    api = make_client(fake_github)

    listed = api.list_issue_comments(PR_NUMBER)
    updated = upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nnew report")

    assert len(listed) == 231
    assert [c.id for c in listed] == [c.id for c in repo.comments]
    assert find_marked_comment(listed, MARKER) is not None
    assert updated.id == 20_000
    assert sent(fake_github, "list_issue_comments") == 6  # 3 pages of 100, twice
    assert sent(fake_github, "create_issue_comment") == 0


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("acme/ml-repo/.github/workflows/ml.yml@refs/heads/main", "ml.yml", id="branch"),
        pytest.param(
            "acme/ml-repo/.github/workflows/ct.yaml@refs/pull/7/merge", "ct.yaml", id="pull-merge-ref"
        ),
    ],
)
def test_workflow_file_from_ref(ref: str, expected: str) -> None:
    assert workflow_file_from_ref(ref) == expected


def test_workflow_file_from_a_bad_ref_is_an_error() -> None:
    with pytest.raises(GitHubError, match="GITHUB_WORKFLOW_REF does not name a workflow file"):
        workflow_file_from_ref("acme/ml-repo@refs/heads/main")
