"""Compatibility shim: the local Hub-protocol test server now lives in the package tests/hub/ (see its docstring).

``from hub_server import LocalHub, hub_server, local_hub`` keeps working (tests/conftest.py and
tests/test_hub_server.py use it).
"""

from hub import Commit, LocalHub, Repo, hub_server, local_hub, validate_card_metadata  # noqa: F401

__all__ = ["LocalHub", "Repo", "Commit", "hub_server", "local_hub", "validate_card_metadata"]
