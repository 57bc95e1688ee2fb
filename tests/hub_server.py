"""A small, in-memory, loopback HTTP server speaking enough of the Hugging Face Hub protocol
for the *real* ``huggingface_hub`` client (and ``transformers``' ``push_to_hub`` /
``from_pretrained("user/name")``) to push and pull model repos over real HTTP, in tests.

It is a test double, not a Hub: everything lives in memory, in one process, for the lifetime of
one :class:`LocalHub`. Verified against huggingface_hub 2.4.0 / transformers 5.24.

How the client is pointed at it (read this first)
-------------------------------------------------
``huggingface_hub`` reads ``HF_ENDPOINT`` **once, at import time**:
``huggingface_hub.constants.ENDPOINT``, ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (used by
``hf_hub_download``), ``constants.HF_URL_HOSTS`` and the module-level ``huggingface_hub.hf_api.api``
(whose bound methods are the top-level ``list_repo_files``, ``upload_folder``, ... functions)
are all computed from it when ``huggingface_hub`` is first imported. In a pytest process,
``huggingface_hub`` has almost always been imported already (transformers, optimum, other
tests...), so setting ``os.environ["HF_ENDPOINT"]`` in a fixture is *not* reliable.

Therefore the supported approach is: **run the client in a subprocess** whose environment
carries ``HF_ENDPOINT``. :meth:`LocalHub.client_env` builds such an environment (it also gives
the subprocess its own ``HF_HOME`` so caches and saved tokens never leak, removes inherited
``HF_*``/``TRANSFORMERS_*``/proxy variables -- notably the ``HF_HUB_OFFLINE=1`` that
tests/conftest.py sets for the whole session -- and sets ``NO_PROXY`` for loopback), and
:meth:`LocalHub.run_python` runs a Python snippet with it and fails loudly (stdout, stderr and
the server's request log) when the snippet fails.

:meth:`LocalHub.patch_endpoint` is a best-effort *in-process* alternative: it temporarily
rewrites the import-time constants listed above (and resets transformers' cached ``HfApi``).
``HfApi`` objects created before entering it keep their old endpoint, and anything else that
copied ``ENDPOINT`` at import time is not patched; prefer subprocesses.

What the server implements (model repos only, ``/api/models/...``)
------------------------------------------------------------------
* ``GET  /api/whoami-v2`` -- the token's user (401 for a missing/invalid token).
* ``GET  /api/agent-harnesses`` -- an empty registry (``{"standardEnvVars": [], "harnesses": {}}``).
* ``POST /api/repos/create`` -- new repo under the token's user (or ``organization`` == that
  user); 409 (with ``url``) if it exists. Like the Hub, a new repo has one initial commit adding
  ``.gitattributes``. ``private``/``visibility`` are honoured (private repos are invisible,
  ``RepoNotFound``, to anyone but their owner).
* ``DELETE /api/repos/delete``.
* ``POST /api/validate-yaml`` -- see "Model-card validation" below.
* ``GET  /api/models/{ns}/{name}`` and ``.../revision/{rev}`` -- ``id``, ``sha``, ``siblings``
  (with ``size``/``blobId`` when ``blobs=true``), ``private``, ``cardData``/``tags``/
  ``library_name``/``pipeline_tag`` parsed from README.md metadata, timestamps. ``expand`` is
  ignored.
* ``POST /api/models/{ns}/{name}/preupload/{rev}`` -- answers ``uploadMode: "regular"`` for every
  file (so contents arrive base64-encoded inside the commit; the client never attempts LFS or
  Xet, even with ``hf_xet`` installed), ``shouldIgnore: false`` and ``oid`` = the git blob id of
  the file currently at that path (so the client skips unchanged files, as with the Hub).
* ``POST /api/models/{ns}/{name}/commit/{rev}`` -- ndjson body: ``header`` (summary,
  description, ``parentCommit`` -> 412 if stale), ``file`` (base64), ``deletedFile``,
  ``deletedFolder`` (404 ``EntryNotFound`` if nothing matches). Atomic: all operations apply or
  none. ``lfsFile`` lines and ``create_pr`` are rejected with 400. Each commit gets a new sha
  (sha1 of parent, tree and message); blob ids are real git blob sha1s.
* ``GET  /api/models/{ns}/{name}/tree/{rev}[/{path}]`` (``recursive``), ``POST .../paths-info/{rev}``,
  ``GET .../refs``, ``GET .../commits/{rev}`` (history, newest first), ``POST .../branch/{name}``
  (``startingPoint`` optional; 409 if it exists). Revisions: branch names or full commit shas.
* ``HEAD``/``GET /{ns}/{name}/resolve/{rev}/{path}`` -- ``ETag`` (git blob sha1),
  ``X-Repo-Commit``, ``Content-Length``, single-range ``Range`` requests (206). Missing repo /
  revision / file -> 404 with ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound`` /
  ``EntryNotFound``, which the client maps to its own exception classes.

Auth: tokens live in ``LocalHub.tokens`` (token -> (user, role)); ``LocalHub.token`` is a
``write`` token for ``LocalHub.user``. Every write (create/delete repo, preupload, commit,
branch) needs ``Authorization: Bearer <token>``: missing or unknown token -> 401 with a JSON
``{"error": ...}`` (surfaced as ``HfHubHTTPError``, status 401); ``read`` token or someone else's
namespace -> 403. Like the Hub, an *invalid* token is rejected with 401 on reads too; reads of
public repos need no token.

Failure injection: ``hub.fail_next_commit = True`` makes the next commit request answer HTTP
500 *without applying anything*; an int ``n`` fails the next ``n`` commits. Note that the
client itself retries some calls on 5xx: ``upload_folder`` with ``hf_xet`` installed (the
pipelined path) sends commits with exponential backoff (1 s, 2 s, 4 s, 8 s, 8 s), so a single
injected failure is absorbed there; ``create_commit``/``upload_file``/transformers'
``push_to_hub`` do not retry commits and raise ``HfHubHTTPError`` (status 500).

Every request is appended to ``hub.requests`` (method, path, status); requests matching no
route get a 404 and are also listed in ``hub.unhandled``; exceptions raised by the server
itself give a 500 and are listed in ``hub.server_errors`` (tests should assert both stay empty).

Model-card validation (``POST /api/validate-yaml``)
---------------------------------------------------
The YAML block at the top of ``content`` (same regex as ``huggingface_hub.repocard``) is parsed
with ``yaml.safe_load`` (PyYAML is a hard dependency of huggingface_hub). No block, or an empty
one -> 200 with a warning. Otherwise, 400 when:
  * the YAML does not parse, or is not a mapping;
  * for ``repoType`` ``model`` only:
    - ``license`` is present and not a string;
    - ``tags`` is present and not a list of strings;
    - ``base_model`` is present and not a string or a list of strings;
    - ``model-index`` is present and not a list of entries, each a mapping with a string
      ``name`` and a list ``results``; each result a mapping with ``task`` (mapping with a
      string ``type``), ``dataset`` (mapping with string ``name`` and ``type``) and ``metrics``
      (non-empty list of mappings, each with a string ``type`` and a non-null ``value``).
Nothing else is checked (notably: license ids are not checked against the Hub's list;
``language``, ``datasets``, ``pipeline_tag``, ... are not validated). Errors come back as
``{"error": ..., "errors": [{"message": ...}]}`` -- ``HfApi.create_commit``/``upload_*`` turn that
into ``ValueError("Invalid metadata in README.md. ...")`` -- or as plain text when the request
says ``Accept: text/plain`` (what ``RepoCard.validate`` sends; it raises ``ValueError(text)``).

What it does NOT implement
--------------------------
LFS and Xet storage (never offered to the client), dataset/space/kernel/bucket repos, pull
requests/discussions, tags, gated repos, organisations, ``.gitignore`` handling, size limits on
regular files, pagination (every listing is one page), ``expand``/``lastCommit`` metadata,
super-squash, likes, search, inference, webhooks, persistence across server restarts.
(``CommitOperationCopy`` works: for regular files the client downloads the source and re-sends
its bytes in the commit.)

Using it from tests
-------------------
In tests/conftest.py (after its ``sys.path.insert(0, str(Path(__file__).parent))`` line)::

    from hub_server import LocalHub, hub_server, local_hub  # noqa: E402,F401  (re-exports the fixture)

then, in any test module::

    def test_push(local_hub, tmp_path):          # fresh server per test
        local_hub.run_python(
            f"from huggingface_hub import HfApi; HfApi().create_repo('user/x', token={local_hub.token!r})",
            hf_home=tmp_path / "hf",               # private HF_HOME for the subprocess
        )
        assert "user/x" in local_hub.repos
        assert list(local_hub.repos["user/x"].files()) == [".gitattributes"]

or, without pytest: ``with hub_server() as hub: ...`` / ``with LocalHub() as hub: ...``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["LocalHub", "Repo", "Commit", "hub_server", "local_hub", "validate_card_metadata"]

_REPO_ROOT = Path(__file__).resolve().parent.parent

_GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)
# Same as huggingface_hub.repocard.REGEX_YAML_BLOCK.
_REGEX_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------


@dataclass
class Commit:
    sha: str
    parent: str | None
    tree: dict[str, str]  # path -> blob id
    summary: str
    description: str
    author: str
    date: str


@dataclass
class Repo:
    repo_id: str
    owner: str
    private: bool
    created_at: str
    blobs: dict[str, bytes] = field(default_factory=dict)  # blob id -> content
    commits: dict[str, Commit] = field(default_factory=dict)  # sha -> commit
    refs: dict[str, str] = field(default_factory=dict)  # branch -> sha

    # -- helpers for test assertions --------------------------------------------------------
    @property
    def head(self) -> str:
        """Commit sha of ``main``."""
        return self.refs["main"]

    def resolve(self, revision: str = "main") -> Commit | None:
        sha = self.refs.get(revision)
        if sha is None and _FULL_SHA.match(revision) and revision in self.commits:
            sha = revision
        return self.commits.get(sha) if sha else None

    def files(self, revision: str = "main") -> dict[str, bytes]:
        """``{path: content}`` at ``revision`` (branch or commit sha)."""
        commit = self.resolve(revision)
        if commit is None:
            raise KeyError(f"unknown revision {revision!r} in {self.repo_id}")
        return {path: self.blobs[oid] for path, oid in sorted(commit.tree.items())}

    def history(self, revision: str = "main") -> list[Commit]:
        """Commits reachable from ``revision``, newest first."""
        out, commit = [], self.resolve(revision)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out

    def _add_commit(self, branch: str, tree: dict[str, str], summary: str, description: str, author: str) -> Commit:
        parent = self.refs.get(branch)
        payload = json.dumps([parent, sorted(tree.items()), summary, description], separators=(",", ":"))
        sha = hashlib.sha1(payload.encode()).hexdigest()
        commit = Commit(sha, parent, dict(tree), summary, description, author, _now())
        self.commits[sha] = commit
        self.refs[branch] = sha
        return commit


# --------------------------------------------------------------------------------------------
# Model-card metadata validation
# --------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_model_index(model_index: Any) -> list[str]:
    errors: list[str] = []
    if not isinstance(model_index, list):
        return [f'"model-index" must be a list, got {_type_name(model_index)}']
    for i, entry in enumerate(model_index):
        where = f"model-index[{i}]"
        if not isinstance(entry, dict):
            errors.append(f'"{where}" must be a mapping, got {_type_name(entry)}')
            continue
        if not isinstance(entry.get("name"), str):
            errors.append(f'"{where}.name" is required and must be a string')
        results = entry.get("results")
        if not isinstance(results, list):
            errors.append(f'"{where}.results" is required and must be a list, got {_type_name(results)}')
            continue
        for j, result in enumerate(results):
            rwhere = f"{where}.results[{j}]"
            if not isinstance(result, dict):
                errors.append(f'"{rwhere}" must be a mapping, got {_type_name(result)}')
                continue
            task = result.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append(f'"{rwhere}.task.type" is required and must be a string')
            dataset = result.get("dataset")
            if not isinstance(dataset, dict):
                errors.append(f'"{rwhere}.dataset" is required and must be a mapping')
            else:
                for key in ("name", "type"):
                    if not isinstance(dataset.get(key), str):
                        errors.append(f'"{rwhere}.dataset.{key}" is required and must be a string')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f'"{rwhere}.metrics" is required and must be a non-empty list')
                continue
            for k, metric in enumerate(metrics):
                mwhere = f"{rwhere}.metrics[{k}]"
                if not isinstance(metric, dict):
                    errors.append(f'"{mwhere}" must be a mapping, got {_type_name(metric)}')
                    continue
                if not isinstance(metric.get("type"), str):
                    errors.append(f'"{mwhere}.type" is required and must be a string')
                if metric.get("value") is None:
                    errors.append(f'"{mwhere}.value" is required')
    return errors


def validate_card_metadata(content: str, repo_type: str = "model") -> tuple[list[str], list[str], dict | None]:
    """Validate the YAML metadata block of a repo card. Returns ``(errors, warnings, metadata)``.

    See the module docstring for exactly what is checked.
    """
    import yaml  # hard dependency of huggingface_hub

    match = _REGEX_YAML_BLOCK.search(content)
    if match is None:
        return [], ["Empty or missing yaml metadata in repo card"], None
    try:
        metadata = yaml.safe_load(match.group(2))
    except yaml.YAMLError as exc:
        return [f"Invalid YAML in the metadata block: {' '.join(str(exc).split())}"], [], None
    if metadata is None:
        return [], ["Empty or missing yaml metadata in repo card"], None
    if not isinstance(metadata, dict):
        return [f"The metadata block must be a YAML mapping, got {_type_name(metadata)}"], [], None

    errors: list[str] = []
    if repo_type == "model":
        if "license" in metadata and not isinstance(metadata["license"], str):
            errors.append(f'"license" must be a string, got {_type_name(metadata["license"])}')
        if "tags" in metadata and not _is_str_list(metadata["tags"]):
            errors.append(f'"tags" must be a list of strings, got {metadata["tags"]!r}')
        if "base_model" in metadata:
            base_model = metadata["base_model"]
            if not (isinstance(base_model, str) or _is_str_list(base_model)):
                errors.append(f'"base_model" must be a string or a list of strings, got {base_model!r}')
        if "model-index" in metadata:
            errors.extend(_check_model_index(metadata["model-index"]))
    return errors, [], metadata


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


_SEG = r"[^/]+"
_REPO = rf"(?P<ns>{_SEG})/(?P<name>{_SEG})"
_ROUTES: list[tuple[str, re.Pattern, str]] = [
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

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
        hub: LocalHub = self.server.hub
        split = urlsplit(self.path)
        raw_path, self.query = split.path, parse_qs(split.query, keep_blank_values=True)
        self._status = 0
        self.body = b""
        try:
            self.body = self._read_body()
            for route_method, pattern, handler in _ROUTES:
                match = pattern.match(raw_path) if route_method == method else None
                if match:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    getattr(self, "_h_" + handler)(method=method, **params)
                    break
            else:
                with hub._lock:
                    hub.unhandled.append((method, self.path))
                raise _HttpError(404, f"Not implemented by the local test Hub: {method} {raw_path}")
        except _HttpError as err:
            headers = {"X-Error-Message": err.message.splitlines()[0][:500]}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json(err.status, {"error": err.message, **err.extra}, headers, method)
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
            raise _HttpError(401, "Invalid credentials in Authorization header")
        return identity

    def _require_write(self, namespace: str) -> str:
        identity = self._auth_user()
        if identity is None:
            raise _HttpError(
                401,
                "Authentication required: this operation needs an `Authorization: Bearer <token>` header "
                "with a write token (local test Hub).",
            )
        user, role = identity
        if role != "write":
            raise _HttpError(403, f"Token of user {user!r} is read-only: write access required")
        if namespace != user:
            raise _HttpError(403, f"User {user!r} cannot write to namespace {namespace!r}")
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
            raise _HttpError(404, f"Repository {repo_id} not found", code="RepoNotFound")
        return repo, user

    @staticmethod
    def _commit_at(repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise _HttpError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
        return commit

    def _payload(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise _HttpError(400, f"Invalid JSON body: {exc}") from None

    def _flag(self, key: str) -> bool:
        return (self.query.get(key, ["false"])[-1] or "").lower() in ("1", "true", "yes")

    # -- handlers ------------------------------------------------------------------------------
    def _h_whoami(self, method: str) -> None:
        identity = self._auth_user()
        if identity is None:
            raise _HttpError(401, "Invalid credentials in Authorization header")
        user, role = identity
        self._json(200, {
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user, "fullname": user,
            "email": None, "emailVerified": False, "canPay": False, "isPro": False, "periodEnd": None, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "local-test-token", "role": role}},
        })

    def _h_agent_harnesses(self, method: str) -> None:
        self._json(200, {"standardEnvVars": [], "harnesses": {}})

    def _h_repo_not_found(self, method: str, single: str) -> None:
        raise _HttpError(404, f"Repository {single} not found", code="RepoNotFound")

    def _h_create_repo(self, method: str) -> None:
        hub = self.server.hub
        payload = self._payload()
        repo_type = payload.get("type") or "model"
        if repo_type != "model":
            raise _HttpError(400, f"Only model repos are supported by the local test Hub, got type={repo_type!r}")
        identity = self._auth_user()
        namespace = payload.get("organization") or (identity[0] if identity else "")
        user = self._require_write(namespace)
        name = payload.get("name") or ""
        if not _REPO_NAME.match(name) or name.endswith(".git") or ".." in name or "--" in name:
            raise _HttpError(400, f"Invalid repo name {name!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{hub.url}/{repo_id}"
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        with hub._lock:
            if repo_id in hub.repos:
                raise _HttpError(409, "You already created this model repo", extra={"url": url})
            repo = Repo(repo_id=repo_id, owner=user, private=private, created_at=_now())
            oid = _git_blob_id(_GITATTRIBUTES)
            repo.blobs[oid] = _GITATTRIBUTES
            repo._add_commit("main", {".gitattributes": oid}, "initial commit", "", user)
            hub.repos[repo_id] = repo
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _h_delete_repo(self, method: str) -> None:
        hub = self.server.hub
        payload = self._payload()
        identity = self._auth_user()
        namespace = payload.get("organization") or (identity[0] if identity else "")
        self._require_write(namespace)
        repo_id = f"{namespace}/{payload.get('name')}"
        with hub._lock:
            if hub.repos.pop(repo_id, None) is None:
                raise _HttpError(404, f"Repository {repo_id} not found", code="RepoNotFound")
        self._json(200, {})

    def _h_validate_yaml(self, method: str) -> None:
        payload = self._payload()
        content = payload.get("content")
        if not isinstance(content, str):
            raise _HttpError(400, '"content" (the README.md text) is required')
        errors, warns, _ = validate_card_metadata(content, payload.get("repoType") or "model")
        self.server.hub.validations.append({"content": content, "errors": errors, "warnings": warns})
        accept = self.headers.get("Accept", "")
        status = 400 if errors else 200
        if "text/plain" in accept and "json" not in accept:
            text = "\n".join(f"- {e}" for e in (errors or warns))
            if errors:
                text = "Invalid metadata in README.md:\n" + text
            self._send(status, text.encode(), "text/plain; charset=utf-8")
            return
        body: dict[str, Any] = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warns]}
        if errors:
            body["error"] = "Invalid metadata in README.md:\n" + "\n".join(f"- {e}" for e in errors)
        self._json(status, body)

    def _h_model_info(self, method: str, ns: str, name: str, rev: str = "main") -> None:
        repo, _ = self._repo(ns, name)
        with self.server.hub._lock:
            commit = self._commit_at(repo, rev)
            blobs = self._flag("blobs")
            siblings = []
            for path, oid in sorted(commit.tree.items()):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling.update(size=len(repo.blobs[oid]), blobId=oid)
                siblings.append(sibling)
            card_data = None
            readme_oid = commit.tree.get("README.md")
            if readme_oid is not None:
                errors, _, metadata = validate_card_metadata(repo.blobs[readme_oid].decode("utf-8", "replace"))
                card_data = metadata if not errors else None
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id, "modelId": repo.repo_id,
            "author": repo.owner, "sha": commit.sha, "lastModified": commit.date, "createdAt": repo.created_at,
            "private": repo.private, "disabled": False, "gated": False, "downloads": 0, "likes": 0,
            "tags": [], "siblings": siblings,
        }
        if card_data:
            info["cardData"] = card_data
            if _is_str_list(card_data.get("tags")):
                info["tags"] = list(card_data["tags"])
            for key in ("library_name", "pipeline_tag"):
                if isinstance(card_data.get(key), str):
                    info[key] = card_data[key]
        self._json(200, info)

    def _h_preupload(self, method: str, ns: str, name: str, rev: str) -> None:
        repo, _ = self._repo(ns, name, write=True)
        payload = self._payload()
        if self._flag("create_pr"):
            raise _HttpError(400, "Pull requests (create_pr) are not supported by the local test Hub")
        with self.server.hub._lock:
            commit = self._commit_at(repo, rev)
            files = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": commit.tree.get(f["path"])}
                for f in payload.get("files", [])
            ]
        self._json(200, {"files": files, "commitOid": commit.sha})

    def _h_commit(self, method: str, ns: str, name: str, rev: str) -> None:
        hub = self.server.hub
        repo, user = self._repo(ns, name, write=True)
        if self._flag("create_pr"):
            raise _HttpError(400, "Pull requests (create_pr) are not supported by the local test Hub")
        with hub._lock:
            if hub._commit_failures > 0:
                hub._commit_failures -= 1
                raise _HttpError(500, "Injected failure (LocalHub.fail_next_commit): commit not applied")
        try:
            lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        except ValueError as exc:
            raise _HttpError(400, f"Invalid ndjson commit payload: {exc}") from None
        if not lines or lines[0].get("key") != "header":
            raise _HttpError(400, "Commit payload must start with a header line")
        header = lines[0].get("value") or {}
        summary = header.get("summary") or ""
        if not summary:
            raise _HttpError(400, "Commit summary (message) is required")
        with hub._lock:
            head = self._commit_at(repo, rev)
            if rev not in repo.refs:
                raise _HttpError(400, f"Can only commit to a branch, {rev!r} is not one")
            parent = header.get("parentCommit")
            if parent and parent != head.sha:
                raise _HttpError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(head.tree)
            new_blobs: dict[str, bytes] = {}
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise _HttpError(400, f"Unsupported encoding {value.get('encoding')!r} for {path}")
                    content = base64.b64decode(value.get("content", ""), validate=True)
                    oid = _git_blob_id(content)
                    new_blobs[oid] = content
                    tree[path] = oid
                elif key == "deletedFile":
                    if tree.pop(path, None) is None:
                        raise _HttpError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in tree if p.startswith(prefix)]
                    if not doomed:
                        raise _HttpError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
                    for p in doomed:
                        del tree[p]
                elif key == "lfsFile":
                    raise _HttpError(400, f"LFS files are not supported by the local test Hub ({path})")
                else:
                    raise _HttpError(400, f"Unsupported commit operation {key!r}")
            repo.blobs.update(new_blobs)
            commit = repo._add_commit(rev, tree, summary, header.get("description") or "", user or "")
        self._json(200, {
            "success": True, "commitOid": commit.sha, "commitMessage": summary,
            "commitUrl": f"{hub.url}/{repo.repo_id}/commit/{commit.sha}", "pullRequestUrl": None,
        })

    def _h_create_branch(self, method: str, ns: str, name: str, branch: str) -> None:
        repo, _ = self._repo(ns, name, write=True)
        start = self._payload().get("startingPoint") or "main"
        with self.server.hub._lock:
            if branch in repo.refs:
                raise _HttpError(409, f"Branch {branch} already exists")
            repo.refs[branch] = self._commit_at(repo, start).sha
        self._json(200, {})

    @staticmethod
    def _entries(repo: Repo, commit: Commit, prefix: str, recursive: bool) -> list[dict]:
        files: list[dict] = []
        dirs: dict[str, None] = {}
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        for path, oid in sorted(commit.tree.items()):
            if not path.startswith(base):
                continue
            rest = path[len(base):].split("/")
            for depth in range(1, len(rest) if recursive else min(len(rest), 2)):
                dirs[base + "/".join(rest[:depth])] = None
            if recursive or len(rest) == 1:
                files.append({"type": "file", "oid": oid, "size": len(repo.blobs[oid]), "path": path})
        folders = [
            {"type": "directory", "oid": hashlib.sha1(f"tree {d}".encode()).hexdigest(), "size": 0, "path": d}
            for d in dirs
        ]
        return sorted(folders + files, key=lambda e: e["path"])

    def _h_tree(self, method: str, ns: str, name: str, rev: str, path: str = "") -> None:
        repo, _ = self._repo(ns, name)
        with self.server.hub._lock:
            commit = self._commit_at(repo, rev)
            path = path.strip("/")
            if path and (path in commit.tree or not any(p.startswith(path + "/") for p in commit.tree)):
                raise _HttpError(404, f"Path {path} not found (or not a folder) at {rev}", code="EntryNotFound")
            entries = self._entries(repo, commit, path, self._flag("recursive"))
        self._json(200, entries)

    def _h_paths_info(self, method: str, ns: str, name: str, rev: str) -> None:
        repo, _ = self._repo(ns, name)
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = self._payload().get("paths", [])
        else:
            paths = parse_qs(self.body.decode(), keep_blank_values=True).get("paths", [])
        with self.server.hub._lock:
            commit = self._commit_at(repo, rev)
            out = []
            for path in paths if isinstance(paths, list) else [paths]:
                path = path.strip("/")
                if path in commit.tree:
                    oid = commit.tree[path]
                    out.append({"type": "file", "oid": oid, "size": len(repo.blobs[oid]), "path": path})
                elif any(p.startswith(path + "/") for p in commit.tree):
                    oid = hashlib.sha1(f"tree {path}".encode()).hexdigest()
                    out.append({"type": "directory", "oid": oid, "size": 0, "path": path})
        self._json(200, out)

    def _h_refs(self, method: str, ns: str, name: str) -> None:
        repo, _ = self._repo(ns, name)
        with self.server.hub._lock:
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": sha} for b, sha in repo.refs.items()]
        self._json(200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _h_commits(self, method: str, ns: str, name: str, rev: str) -> None:
        repo, _ = self._repo(ns, name)
        with self.server.hub._lock:
            self._commit_at(repo, rev)
            history = repo.history(rev)
        self._json(200, [
            {"id": c.sha, "title": c.summary, "message": c.description, "date": c.date,
             "authors": [{"user": c.author}], "parents": [c.parent] if c.parent else []}
            for c in history
        ])

    def _h_resolve(self, method: str, ns: str, name: str, rev: str, path: str) -> None:
        repo, _ = self._repo(ns, name)
        with self.server.hub._lock:
            commit = self._commit_at(repo, rev)
            oid = commit.tree.get(path)
            if oid is None:
                raise _HttpError(404, f"Entry not found: {path}", code="EntryNotFound")
            data = repo.blobs[oid]
        headers = {"ETag": f'"{oid}"', "X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes"}
        status = 200
        range_header = self.headers.get("Range")
        if range_header and method == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise _HttpError(416, f"Unsupported Range header {range_header!r}")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
            else:  # suffix range
                start, end = max(0, len(data) - int(m.group(2))), len(data) - 1
            if start >= len(data) or start > end:
                headers["Content-Range"] = f"bytes */{len(data)}"
                raise _HttpError(416, f"Range {range_header!r} not satisfiable for {len(data)} bytes")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, "application/octet-stream", headers, method)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: "LocalHub"


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class LocalHub:
    """An in-memory Hub on ``http://127.0.0.1:<free port>``; start with ``with LocalHub() as hub:``.

    Attributes: ``url``, ``user``, ``token`` (write token of ``user``), ``tokens``
    (token -> (user, role), add read tokens or other users here), ``repos`` ("ns/name" ->
    :class:`Repo`), ``requests``, ``unhandled``, ``server_errors``, ``validations``,
    ``fail_next_commit``.
    """

    def __init__(self, user: str = "user", token: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.user = user
        self.token = token or f"hf_local{secrets.token_hex(16)}"
        self.tokens: dict[str, tuple[str, str]] = {self.token: (user, "write")}
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.server_errors: list[str] = []
        self.validations: list[dict] = []
        self._commit_failures = 0
        self._lock = threading.RLock()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- failure injection ---------------------------------------------------------------------
    @property
    def fail_next_commit(self) -> int:
        """Number of upcoming commit requests that will fail with HTTP 500 (True == 1)."""
        return self._commit_failures

    @fail_next_commit.setter
    def fail_next_commit(self, value: bool | int) -> None:
        with self._lock:
            self._commit_failures = int(value)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "LocalHub":
        if self._server is None:
            self._server = _Server((self._host, self._port), _Handler)
            self._server.hub = self
            self._thread = threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalHub is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- client helpers ------------------------------------------------------------------------
    def client_env(self, hf_home: str | os.PathLike, *, with_token: bool = False, extra: dict | None = None) -> dict:
        """Environment for a client subprocess talking to this hub.

        Drops inherited ``HF_*``/``HUGGINGFACE_*``/``TRANSFORMERS_*`` and proxy variables, sets
        ``HF_ENDPOINT``, a private ``HF_HOME``, ``NO_PROXY`` for loopback, disables telemetry,
        prepends the repository root to ``PYTHONPATH``. ``with_token=True`` also sets ``HF_TOKEN``.
        """
        drop_prefixes = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_")
        proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k.lower() not in proxies
        }
        Path(hf_home).mkdir(parents=True, exist_ok=True)
        env.update(
            HF_ENDPOINT=self.url,
            HF_HOME=str(hf_home),
            HF_HUB_DISABLE_TELEMETRY="1",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            PYTHONPATH=os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        )
        if with_token:
            env["HF_TOKEN"] = self.token
        env.update(extra or {})
        return env

    def run_python(
        self,
        code: str,
        hf_home: str | os.PathLike,
        *,
        with_token: bool = False,
        extra_env: dict | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``python -c code`` against this hub (see :meth:`client_env`).

        With ``check=True`` a non-zero exit raises ``AssertionError`` carrying stdout, stderr and
        the tail of the request log.
        """
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=self.client_env(hf_home, with_token=with_token, extra=extra_env),
            capture_output=True, text=True, timeout=timeout, cwd=str(_REPO_ROOT),
        )
        if check and proc.returncode != 0:
            log = "\n".join(f"  {m} {p} -> {s}" for m, p, s in self.requests[-30:])
            raise AssertionError(
                f"client subprocess failed (rc={proc.returncode})\n--- stdout ---\n{proc.stdout}\n"
                f"--- stderr ---\n{proc.stderr}\n--- last requests ---\n{log}"
            )
        return proc

    @contextlib.contextmanager
    def patch_endpoint(self) -> Iterator["LocalHub"]:
        """Best effort: point the *already imported* huggingface_hub of this process at this hub.

        Patches ``constants.ENDPOINT``, ``constants.HUGGINGFACE_CO_URL_TEMPLATE``,
        ``constants.HF_URL_HOSTS`` and ``hf_api.api.endpoint``, sets ``constants.HF_HUB_OFFLINE``
        to False (tests/conftest.py sets ``HF_HUB_OFFLINE=1`` for the whole session), and resets
        ``transformers.utils.hub._hf_api`` if transformers is imported; all restored on exit.
        ``HfApi`` objects created earlier keep their endpoint; saved tokens / caches are the
        process's own (pass ``cache_dir``/``token`` explicitly). Prefer :meth:`run_python`.
        """
        from huggingface_hub import constants
        from huggingface_hub import hf_api as hf_api_module

        saved = (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_URL_HOSTS,
                 constants.HF_HUB_OFFLINE, hf_api_module.api.endpoint)
        tf_hub = sys.modules.get("transformers.utils.hub")
        saved_tf = getattr(tf_hub, "_hf_api", None) if tf_hub is not None else None
        constants.ENDPOINT = self.url
        constants.HUGGINGFACE_CO_URL_TEMPLATE = self.url + "/{repo_id}/resolve/{revision}/{filename}"
        constants.HF_URL_HOSTS = frozenset(saved[2] | {"127.0.0.1"})
        constants.HF_HUB_OFFLINE = False
        hf_api_module.api.endpoint = self.url
        if tf_hub is not None and hasattr(tf_hub, "_hf_api"):
            tf_hub._hf_api = None
        try:
            yield self
        finally:
            (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_URL_HOSTS,
             constants.HF_HUB_OFFLINE, hf_api_module.api.endpoint) = saved
            if tf_hub is not None and hasattr(tf_hub, "_hf_api"):
                tf_hub._hf_api = saved_tf


@contextlib.contextmanager
def hub_server(**kwargs: Any) -> Iterator[LocalHub]:
    """Context manager: a started :class:`LocalHub` (kwargs go to its constructor)."""
    hub = LocalHub(**kwargs)
    with hub:
        yield hub


try:
    import pytest
except ImportError:  # pragma: no cover - usable without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture
    def local_hub() -> Iterator[LocalHub]:
        """A fresh, started :class:`LocalHub` per test; fails the test if the server hit an internal error."""
        with hub_server() as hub:
            yield hub
            assert not hub.server_errors, "local Hub internal errors:\n" + "\n".join(hub.server_errors)
