"""GitHub and GitLab REST fakes: commit statuses and one PR comment / MR note per campaign."""

from __future__ import annotations

import itertools
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeService, as_json, error


class FakeGitHub(FakeService):
    """The few REST v3 endpoints PyGithub calls for statuses and issue comments."""

    def __init__(self, token: str, repo: str = "acme/models") -> None:
        super().__init__()
        self.token = token
        self.repo = repo
        self.statuses: list[dict[str, Any]] = []
        self.comments: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(900)
        r = f"/repos/{repo}"
        self.route("GET", r)(self.get_repo)
        self.route("GET", rf"{r}/commits/(\w+)")(self.get_commit)
        self.route("GET", rf"{r}/issues/(\d+)")(self.get_issue)
        self.route("POST", rf"{r}/statuses/(\w+)")(self.create_status)
        self.route("GET", rf"{r}/issues/(\d+)/comments")(self.list_comments)
        self.route("POST", rf"{r}/issues/(\d+)/comments")(self.create_comment)
        self.route("PATCH", rf"{r}/issues/comments/(\d+)")(self.edit_comment)

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") not in (
            f"token {self.token}",
            f"Bearer {self.token}",
        ):
            return error(401, "Bad credentials")
        return None

    def get_repo(self, request: Request) -> Response:
        owner, name = self.repo.split("/")
        return as_json(
            {
                "id": 1,
                "name": name,
                "full_name": self.repo,
                "url": f"{self.url}/repos/{self.repo}",
                "owner": {"login": owner, "id": 2},
            }
        )

    def get_commit(self, request: Request, sha: str) -> Response:
        url = f"{self.url}/repos/{self.repo}/commits/{sha}"
        return as_json({"sha": sha, "url": url, "commit": {"message": "a change"}})

    def get_issue(self, request: Request, number: str) -> Response:
        url = f"{self.url}/repos/{self.repo}/issues/{number}"
        return as_json(
            {
                "id": 70 + int(number),
                "number": int(number),
                "url": url,
                "comments_url": f"{url}/comments",
                "state": "open",
                "pull_request": {"url": f"{self.url}/repos/{self.repo}/pulls/{number}"},
            }
        )

    def create_status(self, request: Request, sha: str) -> Response:
        body = request.get_json()
        status = {"id": next(self._ids), "sha": sha, "url": f"{self.url}/statuses/{sha}", **body}
        self.statuses.append(status)
        return as_json(status, 201)

    def list_comments(self, request: Request, number: str) -> Response:
        found = [c for c in self.comments.values() if c["issue"] == int(number)]
        return as_json([self._comment(c) for c in found])

    def create_comment(self, request: Request, number: str) -> Response:
        cid = next(self._ids)
        self.comments[cid] = {"id": cid, "issue": int(number), "body": request.get_json()["body"]}
        return as_json(self._comment(self.comments[cid]), 201)

    def edit_comment(self, request: Request, cid: str) -> Response:
        if int(cid) not in self.comments:
            return error(404, "Not Found")
        self.comments[int(cid)]["body"] = request.get_json()["body"]
        return as_json(self._comment(self.comments[int(cid)]))

    def _comment(self, c: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/repos/{self.repo}/issues/comments/{c['id']}"
        return {
            "id": c["id"],
            "body": c["body"],
            "url": url,
            "html_url": url,
            "issue_url": f"{self.url}/repos/{self.repo}/issues/{c['issue']}",
            "user": {"login": "dtf-bot", "id": 1},
        }


class FakeGitLab(FakeService):
    """The REST v4 endpoints python-gitlab calls for commit statuses and MR notes."""

    def __init__(self, token: str, project: str = "acme/models") -> None:
        super().__init__()
        self.token = token
        self.statuses: list[dict[str, Any]] = []
        self.notes: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(500)
        p = f"/api/v4/projects/{project}"
        self.route("POST", rf"{p}/statuses/(\w+)")(self.create_status)
        self.route("GET", rf"{p}/merge_requests/(\d+)/notes")(self.list_notes)
        self.route("POST", rf"{p}/merge_requests/(\d+)/notes")(self.create_note)
        self.route("PUT", rf"{p}/merge_requests/(\d+)/notes/(\d+)")(self.update_note)

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return as_json({"message": "401 Unauthorized"}, 401)
        return None

    def create_status(self, request: Request, sha: str) -> Response:
        body = request.get_json()
        status = {"id": next(self._ids), "sha": sha, "status": body["state"], **body}
        self.statuses.append(status)
        return as_json(status, 201)

    def list_notes(self, request: Request, iid: str) -> Response:
        return as_json([n for n in self.notes.values() if n["noteable_iid"] == int(iid)])

    def create_note(self, request: Request, iid: str) -> Response:
        nid = next(self._ids)
        self.notes[nid] = {
            "id": nid,
            "body": request.get_json()["body"],
            "noteable_type": "MergeRequest",
            "noteable_iid": int(iid),
        }
        return as_json(self.notes[nid], 201)

    def update_note(self, request: Request, iid: str, nid: str) -> Response:
        if int(nid) not in self.notes:
            return as_json({"message": "404 Not found"}, 404)
        self.notes[int(nid)]["body"] = request.get_json()["body"]
        return as_json(self.notes[int(nid)])


class FakePushgateway(FakeService):
    """Keeps the last text pushed to each grouping key."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, str] = {}
        self.route("PUT", r"/metrics/(.+)")(self.put)

    def put(self, request: Request, group: str) -> Response:
        self.groups[group] = request.get_data(as_text=True)
        return Response(status=200)
