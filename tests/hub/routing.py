"""HTTP plumbing of the local Hub: errors, the route table, request dispatch, auth and request helpers.

The endpoints themselves live in repos_api.py and files_api.py as ``_h_<name>`` methods of handler mixins.
"""

from __future__ import annotations

import json
import re
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .storage import Commit, Repo

if TYPE_CHECKING:
    from .server import Server


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


_SEG = r"[^/]+"
_REPO = rf"(?P<ns>{_SEG})/(?P<name>{_SEG})"
ROUTES: list[tuple[str, re.Pattern, str]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"^/api/whoami-v2$", "whoami"),
        ("GET", r"^/api/agent-harnesses$", "agent_harnesses"),
        ("POST", r"^/api/repos/create$", "create_repo"),
        ("DELETE", r"^/api/repos/delete$", "delete_repo"),
        ("POST", r"^/api/validate-yaml$", "validate_yaml"),
        ("GET", rf"^/api/models/{_REPO}$", "model_info"),
        ("GET", rf"^/api/models/{_REPO}/revision/(?P<rev>{_SEG})$", "model_info"),
        ("POST", rf"^/api/models/{_REPO}/preupload/(?P<rev>{_SEG})$", "preupload"),
        ("POST", rf"^/api/models/{_REPO}/commit/(?P<rev>{_SEG})$", "commit"),
        ("GET", rf"^/api/models/{_REPO}/tree/(?P<rev>{_SEG})(?:/(?P<path>.*))?$", "tree"),
        ("POST", rf"^/api/models/{_REPO}/paths-info/(?P<rev>{_SEG})$", "paths_info"),
        ("GET", rf"^/api/models/{_REPO}/refs$", "refs"),
        ("GET", rf"^/api/models/{_REPO}/commits/(?P<rev>{_SEG})$", "commits"),
        ("POST", rf"^/api/models/{_REPO}/branch/(?P<branch>{_SEG})$", "create_branch"),
        ("GET", rf"^/api/models/(?P<single>{_SEG})(?:/revision/{_SEG})?$", "repo_not_found"),
        ("GET", rf"^/{_REPO}/resolve/(?P<rev>{_SEG})/(?P<path>.+)$", "resolve"),
        ("HEAD", rf"^/{_REPO}/resolve/(?P<rev>{_SEG})/(?P<path>.+)$", "resolve"),
        ("GET", rf"^/(?P<single>{_SEG})/resolve/{_SEG}/.+$", "repo_not_found"),
        ("HEAD", rf"^/(?P<single>{_SEG})/resolve/{_SEG}/.+$", "repo_not_found"),
    ]
]



class BaseHandler(BaseHTTPRequestHandler):
    """Plumbing shared by the endpoint mixins; the concrete handler is ``server.Handler``."""

    protocol_version = "HTTP/1.1"
    server: "Server"

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None, method: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)
        self._status = status

    def _json(self, status: int, obj: Any, headers: dict | None = None, method: str = "") -> None:
        self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8", headers, method)

    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        raw_path, self.query = split.path, parse_qs(split.query, keep_blank_values=True)
        self._status = 0
        self.body = b""
        try:
            self.body = self._read_body()
            for route_method, pattern, handler in ROUTES:
                match = pattern.match(raw_path) if route_method == method else None
                if match:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    getattr(self, "_h_" + handler)(method=method, **params)
                    break
            else:
                with hub._lock:
                    hub.unhandled.append((method, self.path))
                raise HttpError(404, f"Not implemented by the local test Hub: {method} {raw_path}")
        except HttpError as err:
            headers = {"X-Error-Message": err.message.splitlines()[0][:500]}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json(err.status, {"error": err.message, **err.extra}, headers, method)
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-request (a killed client): no reply
            with hub._lock:
                hub.disconnects.append((method, self.path))
        except Exception:  # a bug in this server: make it visible to the test
            tb = traceback.format_exc()
            with hub._lock:
                hub.server_errors.append(tb)
            self._json(500, {"error": "local test Hub internal error:\n" + tb}, method=method)
        finally:
            with hub._lock:
                hub.requests.append((method, self.path, self._status))

    # -- auth ----------------------------------------------------------------------------------
    def _auth_user(self) -> tuple[str, str] | None:
        """(user, role) for a valid token, None when no token; 401 for an invalid one."""
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        identity = self.server.hub.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if identity is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        return identity

    def _require_write(self, namespace: str) -> str:
        identity = self._auth_user()
        if identity is None:
            raise HttpError(
                401,
                "Authentication required: this operation needs an `Authorization: Bearer <token>` header "
                "with a write token (local test Hub).",
            )
        user, role = identity
        if role != "write":
            raise HttpError(403, f"Token of user {user!r} is read-only: write access required")
        if namespace != user:
            raise HttpError(403, f"User {user!r} cannot write to namespace {namespace!r}")
        return user

    def _repo(self, ns: str, name: str, *, write: bool = False) -> tuple[Repo, str | None]:
        """Look up a repo, enforcing visibility (reads) or write permission."""
        repo_id = f"{ns}/{name}"
        if write:
            user = self._require_write(ns)
        else:
            identity = self._auth_user()
            user = identity[0] if identity else None
        repo = self.server.hub.repos.get(repo_id)
        if repo is None or (repo.private and repo.owner != user):
            raise HttpError(404, f"Repository {repo_id} not found", code="RepoNotFound")
        return repo, user

    @staticmethod
    def _commit_at(repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HttpError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
        return commit

    def _payload(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise HttpError(400, f"Invalid JSON body: {exc}") from None

    def _flag(self, key: str) -> bool:
        return (self.query.get(key, ["false"])[-1] or "").lower() in ("1", "true", "yes")

