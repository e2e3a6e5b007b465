"""A JIRA Server REST API v2 fake: search, create issue, comments, transitions."""

from __future__ import annotations

import itertools
import re
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeService, as_json, error

FIELDS = [
    {"id": "summary", "name": "Summary", "custom": False, "clauseNames": ["summary"]},
    {"id": "description", "name": "Description", "custom": False, "clauseNames": ["description"]},
    {"id": "labels", "name": "Labels", "custom": False, "clauseNames": ["labels"]},
    {"id": "status", "name": "Status", "custom": False, "clauseNames": ["status"]},
]
TRANSITIONS = [{"id": "21", "name": "In Progress"}, {"id": "31", "name": "Done"}]


class FakeJira(FakeService):
    """Issues live in memory; JQL understood: project, labels = "x", statusCategory != Done."""

    def __init__(self, token: str, project: str = "ML") -> None:
        super().__init__()
        self.token = token
        self.project = project
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(10001)
        self.route("GET", "/rest/api/2/field")(lambda r: as_json(FIELDS))
        self.route("GET", "/rest/api/2/search")(self.search)
        self.route("POST", "/rest/api/2/issue")(self.create)
        self.route("GET", r"/rest/api/2/issue/([A-Z]+-\d+)/comment")(self.list_comments)
        self.route("POST", r"/rest/api/2/issue/([A-Z]+-\d+)/comment")(self.add_comment)
        self.route("GET", r"/rest/api/2/issue/([A-Z]+-\d+)/transitions")(
            lambda r, key: as_json({"expand": "transitions", "transitions": TRANSITIONS})
        )
        self.route("POST", r"/rest/api/2/issue/([A-Z]+-\d+)/transitions")(self.transition)

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return error(401, "You are not authenticated")
        return None

    def search(self, request: Request) -> Response:
        jql = request.args.get("jql", "")
        label = re.search(r'labels = "([^"]+)"', jql)
        found = [
            i
            for i in self.issues.values()
            if (label is None or label.group(1) in i["fields"]["labels"])
            and ("statusCategory != Done" not in jql or i["fields"]["status"]["name"] != "Done")
        ]
        return as_json({"startAt": 0, "maxResults": 50, "total": len(found), "issues": found})

    def create(self, request: Request) -> Response:
        fields = request.get_json()["fields"]
        if fields["project"]["key"] != self.project:
            return as_json({"errorMessages": [], "errors": {"project": "project is required"}}, 400)
        number = next(self._ids)
        key = f"{self.project}-{len(self.issues) + 1}"
        self.issues[key] = {
            "id": str(number),
            "key": key,
            "self": f"{self.url}/rest/api/2/issue/{number}",
            "fields": {
                **fields,
                "labels": list(fields.get("labels", [])),
                "status": {"name": "Open", "statusCategory": {"key": "new"}},
            },
        }
        self.comments[key] = []
        return as_json({"id": str(number), "key": key, "self": self.issues[key]["self"]}, 201)

    def create_issue_directly(self, label: str) -> str:
        """An open issue filed earlier (by a previous run), carrying `label`."""
        key = f"{self.project}-{len(self.issues) + 1}"
        self.issues[key] = {
            "id": str(next(self._ids)),
            "key": key,
            "self": "",
            "fields": {
                "summary": "earlier",
                "description": "",
                "labels": [label],
                "status": {"name": "Open", "statusCategory": {"key": "new"}},
            },
        }
        self.comments[key] = []
        return key

    def list_comments(self, request: Request, key: str) -> Response:
        if key not in self.issues:
            return error(404, "Issue does not exist")
        items = self.comments[key]
        return as_json(
            {"startAt": 0, "maxResults": len(items), "total": len(items), "comments": items}
        )

    def add_comment(self, request: Request, key: str) -> Response:
        if key not in self.issues:
            return error(404, "Issue does not exist")
        cid = str(next(self._ids))
        comment = {
            "id": cid,
            "body": request.get_json()["body"],
            "self": f"{self.url}/rest/api/2/issue/{key}/comment/{cid}",
        }
        self.comments[key].append(comment)
        return as_json(comment, 201)

    def transition(self, request: Request, key: str) -> Response:
        wanted = str(request.get_json()["transition"]["id"])
        names = {t["id"]: t["name"] for t in TRANSITIONS}
        if key not in self.issues or wanted not in names:
            return error(400, "bad transition")
        self.issues[key]["fields"]["status"] = {
            "name": names[wanted],
            "statusCategory": {"key": "done"},
        }
        return Response(status=204)
