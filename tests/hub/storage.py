"""In-memory storage of the local Hub: repos, commits (a flat path -> blob tree each) and blobs."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
        if sha is None and FULL_SHA.match(revision) and revision in self.commits:
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
        commit = Commit(sha, parent, dict(tree), summary, description, author, now())
        self.commits[sha] = commit
        self.refs[branch] = sha
        return commit

