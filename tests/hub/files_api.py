"""File-level endpoints: preupload, commit, branch, tree, paths-info, refs, commits and resolve (downloads)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs

from .routing import BaseHandler, HttpError
from .storage import Commit, Repo, git_blob_id


class FileHandlers(BaseHandler):
    """Endpoints that read or write files of a repo."""

    def _h_preupload(self, method: str, ns: str, name: str, rev: str) -> None:
        repo, _ = self._repo(ns, name, write=True)
        payload = self._payload()
        if self._flag("create_pr"):
            raise HttpError(400, "Pull requests (create_pr) are not supported by the local test Hub")
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
            raise HttpError(400, "Pull requests (create_pr) are not supported by the local test Hub")
        with hub._lock:
            if hub._commit_failures > 0:
                hub._commit_failures -= 1
                raise HttpError(500, "Injected failure (LocalHub.fail_next_commit): commit not applied")
        try:
            lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        except ValueError as exc:
            raise HttpError(400, f"Invalid ndjson commit payload: {exc}") from None
        if not lines or lines[0].get("key") != "header":
            raise HttpError(400, "Commit payload must start with a header line")
        header = lines[0].get("value") or {}
        summary = header.get("summary") or ""
        if not summary:
            raise HttpError(400, "Commit summary (message) is required")
        with hub._lock:
            head = self._commit_at(repo, rev)
            if rev not in repo.refs:
                raise HttpError(400, f"Can only commit to a branch, {rev!r} is not one")
            parent = header.get("parentCommit")
            if parent and parent != head.sha:
                raise HttpError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(head.tree)
            new_blobs: dict[str, bytes] = {}
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HttpError(400, f"Unsupported encoding {value.get('encoding')!r} for {path}")
                    content = base64.b64decode(value.get("content", ""), validate=True)
                    oid = git_blob_id(content)
                    new_blobs[oid] = content
                    tree[path] = oid
                elif key == "deletedFile":
                    if tree.pop(path, None) is None:
                        raise HttpError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in tree if p.startswith(prefix)]
                    if not doomed:
                        raise HttpError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
                    for p in doomed:
                        del tree[p]
                elif key == "lfsFile":
                    raise HttpError(400, f"LFS files are not supported by the local test Hub ({path})")
                else:
                    raise HttpError(400, f"Unsupported commit operation {key!r}")
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
                raise HttpError(409, f"Branch {branch} already exists")
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
                raise HttpError(404, f"Path {path} not found (or not a folder) at {rev}", code="EntryNotFound")
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
                raise HttpError(404, f"Entry not found: {path}", code="EntryNotFound")
            data = repo.blobs[oid]
        headers = {"ETag": f'"{oid}"', "X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes"}
        status = 200
        range_header = self.headers.get("Range")
        if range_header and method == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise HttpError(416, f"Unsupported Range header {range_header!r}")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
            else:  # suffix range
                start, end = max(0, len(data) - int(m.group(2))), len(data) - 1
            if start >= len(data) or start > end:
                headers["Content-Range"] = f"bytes */{len(data)}"
                raise HttpError(416, f"Range {range_header!r} not satisfiable for {len(data)} bytes")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, "application/octet-stream", headers, method)

