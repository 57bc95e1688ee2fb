"""Pointing a huggingface_hub client at a LocalHub: subprocess environments, and in-process endpoint patching."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]


class ClientMixin:
    """Client helpers of :class:`~hub.server.LocalHub` (needs ``url``, ``token`` and ``requests``)."""

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
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
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
            capture_output=True, text=True, timeout=timeout, cwd=str(REPO_ROOT),
        )
        if check and proc.returncode != 0:
            log = "\n".join(f"  {m} {p} -> {s}" for m, p, s in self.requests[-30:])
            raise AssertionError(
                f"client subprocess failed (rc={proc.returncode})\n--- stdout ---\n{proc.stdout}\n"
                f"--- stderr ---\n{proc.stderr}\n--- last requests ---\n{log}"
            )
        return proc

    @contextlib.contextmanager
    def patch_endpoint(self) -> Iterator["ClientMixin"]:
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

