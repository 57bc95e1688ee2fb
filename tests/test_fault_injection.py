"""SIGKILL `hywia prune` during its save and `hywia push` during its upload, 20 times each, at random moments.

After every kill the output folder is the previous complete save (same files, same logits) or absent, never half a
save; the input model is byte-identical; a killed push leaves the local save intact, the Hub repo holding a whole
commit or none of it, and a plain retry succeeds. The commands run in children forked by tests/cli_forkserver.py
(a real `hywia` command line in its own process, without paying the imports 40 times).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
from transformers import AutoModelForCausalLM

import optimum_hywia  # noqa: F401  (registers the pruned-model types with the Auto classes)
from tiny_models import save_tiny_checkpoint

FORKSERVER = Path(__file__).with_name("cli_forkserver.py")
REPO_ROOT = Path(__file__).resolve().parents[1]
CHEAP = ["--importance", "magnitude_l1", "--skip-first-layers", "1", "--skip-last-layers", "1", "--eval-windows", "0"]
KILLS = 20
INPUT = torch.tensor([[5, 17, 3, 42, 8, 1]])

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


class ForkServer:
    """tests/cli_forkserver.py: `start(argv)` forks a child running `hywia *argv`, `wait()` gives its status."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen([sys.executable, str(FORKSERVER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=str(REPO_ROOT))

    def start(self, argv: list[str]) -> int:
        self.process.stdin.write(json.dumps(argv) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait(self) -> int:
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition: Callable[[], bool], pid: int, timeout: float = 120.0) -> None:
    """Poll until `condition()` or the child `pid` has ended."""
    deadline = time.monotonic() + timeout
    while not condition() and is_running(pid):
        assert time.monotonic() < deadline, "the command neither reached the awaited point nor ended"
        time.sleep(0.0005)


def kill_at_random(server: ForkServer, argv: list[str], started: Callable[[], bool], window: float,
                   rng: random.Random) -> bool:
    """Run `argv`, SIGKILL it a random time in [0, window] after `started()` turns true; whether the kill landed."""
    pid = server.start(argv)
    wait_until(started, pid)
    time.sleep(rng.uniform(0, window))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    status = server.wait()
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def timed_run(server: ForkServer, argv: list[str], started: Callable[[], bool]) -> float:
    """Run `argv` to the end; seconds from `started()` turning true to the command's exit."""
    pid = server.start(argv)
    wait_until(started, pid)
    begin = time.monotonic()
    assert server.wait() == 0, f"hywia {' '.join(argv)} failed"
    return time.monotonic() - begin


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def logits(folder: Path) -> torch.Tensor:
    with torch.no_grad():
        return AutoModelForCausalLM.from_pretrained(folder)(INPUT).logits


@pytest.fixture
def forkserver():
    servers = []

    def start(env: dict[str, str]) -> ForkServer:
        servers.append(ForkServer(env))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _local_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _private_tmpdir(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A killed child cannot clean its scratch folders: keep them under the test's own folder."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return {**env, "TMPDIR": str(scratch)}


def test_sigkill_during_prune_save_leaves_previous_save_or_nothing(tmp_path, forkserver):
    save_tiny_checkpoint(tmp_path / "tiny")
    source, output = tmp_path / "tiny", tmp_path / "out"
    source_bytes = snapshot(source)
    argv = ["prune", "--model", str(source), "--output", str(output), *CHEAP]
    server = forkserver(_private_tmpdir(_local_env(), tmp_path))

    def staging_folders() -> set[Path]:
        return set(tmp_path.glob(".out.tmp-*")) | set(tmp_path.glob(".out.old-*"))

    known = staging_folders()
    save_seconds = timed_run(server, argv, lambda: bool(staging_folders() - known))
    reference_files, reference_logits = set(snapshot(output)), logits(output)
    rng, landed = random.Random(12), 0
    for _ in range(KILLS):
        known = staging_folders()
        landed += kill_at_random(server, argv, lambda: bool(staging_folders() - known), save_seconds, rng)
        if output.exists():
            assert set(snapshot(output)) == reference_files
            assert torch.equal(logits(output), reference_logits)
        assert snapshot(source) == source_bytes
    assert landed >= KILLS // 4, f"only {landed} of {KILLS} kills landed before the command ended"


def test_sigkill_during_push_keeps_local_save_and_retry_succeeds(local_hub, tmp_path, forkserver):
    save_tiny_checkpoint(tmp_path / "tiny")
    folder = tmp_path / "pruned"
    server = forkserver(_private_tmpdir(local_hub.client_env(tmp_path / "hf", with_token=True), tmp_path))
    pid = server.start(["prune", "--model", str(tmp_path / "tiny"), "--output", str(folder), *CHEAP])
    assert pid > 0 and server.wait() == 0
    local_bytes = snapshot(folder)

    def push(repo: str) -> list[str]:
        return ["push", "--model", str(folder), "--repo-id", repo]

    def request_count_above(count: int) -> Callable[[], bool]:
        return lambda: len(local_hub.requests) > count

    upload_seconds = timed_run(server, push("user/reference"), request_count_above(len(local_hub.requests)))
    complete = set(local_hub.repos["user/reference"].files())
    rng, landed = random.Random(7), 0
    for _ in range(KILLS):
        started = request_count_above(len(local_hub.requests))
        landed += kill_at_random(server, push("user/killed"), started, upload_seconds, rng)
        assert snapshot(folder) == local_bytes
        repo = local_hub.repos.get("user/killed")
        assert repo is None or set(repo.files()) in ({".gitattributes"}, complete)
    assert landed >= KILLS // 4, f"only {landed} of {KILLS} kills landed before the command ended"
    assert timed_run(server, push("user/killed"), lambda: True) >= 0
    assert set(local_hub.repos["user/killed"].files()) == complete
    assert snapshot(folder) == local_bytes
    assert not local_hub.server_errors
