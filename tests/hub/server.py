"""The local Hub server: ``LocalHub`` (lifecycle, state, failure injection), ``hub_server`` and the fixture."""

from __future__ import annotations

import contextlib
import secrets
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Iterator

from .client import ClientMixin
from .files_api import FileHandlers
from .repos_api import RepoHandlers
from .storage import Repo


class Handler(RepoHandlers, FileHandlers):
    """The request handler: routing from routing.BaseHandler, endpoints from the two mixins."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: "LocalHub"


class LocalHub(ClientMixin):
    """An in-memory Hub on ``http://127.0.0.1:<free port>``; start with ``with LocalHub() as hub:``.

    Attributes: ``url``, ``user``, ``token`` (write token of ``user``), ``tokens``
    (token -> (user, role), add read tokens or other users here), ``repos`` ("ns/name" ->
    :class:`Repo`), ``requests``, ``unhandled``, ``server_errors``, ``disconnects``, ``validations``,
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
        self.disconnects: list[tuple[str, str]] = []  # requests whose client closed the connection before the reply
        self.validations: list[dict] = []
        self._commit_failures = 0
        self._lock = threading.RLock()
        self._host, self._port = host, port
        self._server: Server | None = None
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
            self._server = Server((self._host, self._port), Handler)
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
