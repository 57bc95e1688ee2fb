"""Account- and repo-level endpoints: whoami, agent harnesses, create/delete repo, validate-yaml, model info."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .routing import BaseHandler, HttpError
from .storage import GITATTRIBUTES, Repo, git_blob_id, now
from .validation import is_str_list, validate_card_metadata

REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class RepoHandlers(BaseHandler):
    """Endpoints that act on accounts and whole repos."""

    def _h_whoami(self, method: str) -> None:
        identity = self._auth_user()
        if identity is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        user, role = identity
        self._json(200, {
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user, "fullname": user,
            "email": None, "emailVerified": False, "canPay": False, "isPro": False, "periodEnd": None, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "local-test-token", "role": role}},
        })

    def _h_agent_harnesses(self, method: str) -> None:
        self._json(200, {"standardEnvVars": [], "harnesses": {}})

    def _h_repo_not_found(self, method: str, single: str) -> None:
        raise HttpError(404, f"Repository {single} not found", code="RepoNotFound")

    def _h_create_repo(self, method: str) -> None:
        hub = self.server.hub
        payload = self._payload()
        repo_type = payload.get("type") or "model"
        if repo_type != "model":
            raise HttpError(400, f"Only model repos are supported by the local test Hub, got type={repo_type!r}")
        identity = self._auth_user()
        namespace = payload.get("organization") or (identity[0] if identity else "")
        user = self._require_write(namespace)
        name = payload.get("name") or ""
        if not REPO_NAME.match(name) or name.endswith(".git") or ".." in name or "--" in name:
            raise HttpError(400, f"Invalid repo name {name!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{hub.url}/{repo_id}"
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        with hub._lock:
            if repo_id in hub.repos:
                raise HttpError(409, "You already created this model repo", extra={"url": url})
            repo = Repo(repo_id=repo_id, owner=user, private=private, created_at=now())
            oid = git_blob_id(GITATTRIBUTES)
            repo.blobs[oid] = GITATTRIBUTES
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
                raise HttpError(404, f"Repository {repo_id} not found", code="RepoNotFound")
        self._json(200, {})

    def _h_validate_yaml(self, method: str) -> None:
        payload = self._payload()
        content = payload.get("content")
        if not isinstance(content, str):
            raise HttpError(400, '"content" (the README.md text) is required')
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
            if is_str_list(card_data.get("tags")):
                info["tags"] = list(card_data["tags"])
            for key in ("library_name", "pipeline_tag"):
                if isinstance(card_data.get(key), str):
                    info[key] = card_data[key]
        self._json(200, info)
