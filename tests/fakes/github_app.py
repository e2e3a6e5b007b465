"""GitHub as a GitHub App sees it: JWT-authenticated app endpoints, installation tokens, checks."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Request, Response

from tests.fakes.base import as_json, error
from tests.fakes.forges import FakeGitHub

INSTALLATION_ID = 4242


def rsa_private_key_pem() -> str:
    """A throwaway RSA key, as GitHub hands an app's private key out (PKCS#1 PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class FakeGitHubApp(FakeGitHub):
    """GitHub REST v3 for one installed app.

    `/app/...` and `GET /repos/{o}/{r}/installation` need `Bearer <JWT>` signed with the
    app's key and issued by its id; everything else needs `token <installation token>`,
    a token this fake only hands out through `POST /app/installations/{id}/access_tokens`.
    """

    def __init__(self, app_id: int, public_key: str, repo: str = "acme/models") -> None:
        super().__init__(token="", repo=repo)
        self.app_id = app_id
        self.public_key = public_key
        self.tokens: list[str] = []  # installation tokens issued, in order
        self.jwts_seen = 0
        self.check_runs: dict[int, dict[str, Any]] = {}
        self._check_ids = itertools.count(7000)
        r = f"/repos/{repo}"
        self.route("GET", rf"{r}/installation")(self.get_installation)
        self.route("POST", r"/app/installations/(\d+)/access_tokens")(self.create_token)
        self.route("GET", rf"{r}/commits/(\w+)/check-runs")(self.list_check_runs)
        self.route("POST", rf"{r}/check-runs")(self.create_check_run)
        self.route("PATCH", rf"{r}/check-runs/(\d+)")(self.update_check_run)

    # --- authentication ------------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        as_app = request.path.startswith("/app/") or request.path.endswith("/installation")
        if as_app:
            return self._check_jwt(header)
        if not self.tokens or header != f"token {self.tokens[-1]}":
            return error(401, "Bad credentials")
        return None

    def _check_jwt(self, header: str) -> Response | None:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer":
            return error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return error(401, "A JSON web token could not be decoded")
        if claims.get("iss") != str(self.app_id):
            return error(401, "'Issuer' claim ('iss') must be an Integer")
        self.jwts_seen += 1
        return None

    def get_installation(self, request: Request) -> Response:
        owner = self.repo.split("/")[0]
        return as_json(self._installation(owner))

    def create_token(self, request: Request, installation: str) -> Response:
        if int(installation) != INSTALLATION_ID:
            return error(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        self.tokens.append(token)
        return as_json(
            {
                "token": token,
                "expires_at": "2099-01-01T00:00:00Z",
                "permissions": {"checks": "write", "pull_requests": "write"},
                "repository_selection": "selected",
            },
            201,
        )

    def _installation(self, owner: str) -> dict[str, Any]:
        return {
            "id": INSTALLATION_ID,
            "app_id": self.app_id,
            "app_slug": "dtf",
            "target_type": "Organization",
            "account": {"login": owner, "id": 2},
            "access_tokens_url": f"{self.url}/app/installations/{INSTALLATION_ID}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "permissions": {"checks": "write"},
            "events": [],
        }

    # --- check runs ----------------------------------------------------------------------

    def list_check_runs(self, request: Request, sha: str) -> Response:
        name = request.args.get("check_name")
        found = [
            self._check_run(c)
            for c in self.check_runs.values()
            if c["head_sha"] == sha and (name is None or c["name"] == name)
        ]
        return as_json({"total_count": len(found), "check_runs": found})

    def create_check_run(self, request: Request) -> Response:
        body = request.get_json()
        if body.get("status") == "completed" and not body.get("conclusion"):
            return error(422, "conclusion is required when status is completed")
        cid = next(self._check_ids)
        self.check_runs[cid] = {"id": cid, "app_id": self.app_id, **body}
        return as_json(self._check_run(self.check_runs[cid]), 201)

    def update_check_run(self, request: Request, cid: str) -> Response:
        run = self.check_runs.get(int(cid))
        if run is None or run["app_id"] != self.app_id:
            return error(404, "Not Found")
        run.update(request.get_json())
        run["updates"] = run.get("updates", 0) + 1
        return as_json(self._check_run(run))

    def add_foreign_check_run(self, sha: str, name: str) -> None:
        """A check run of the same name made by another app (a CI job): never to be touched."""
        cid = next(self._check_ids)
        self.check_runs[cid] = {"id": cid, "app_id": 1, "name": name, "head_sha": sha}

    def _check_run(self, c: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/repos/{self.repo}/check-runs/{c['id']}"
        return {
            "id": c["id"],
            "name": c["name"],
            "head_sha": c["head_sha"],
            "status": c.get("status", "queued"),
            "conclusion": c.get("conclusion"),
            "external_id": c.get("external_id", ""),
            "details_url": c.get("details_url"),
            "url": url,
            "html_url": url,
            "output": {**(c.get("output") or {}), "annotations_count": 0},
            "app": {"id": c["app_id"], "slug": "dtf" if c["app_id"] == self.app_id else "ci"},
        }
