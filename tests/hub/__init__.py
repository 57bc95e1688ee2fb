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
itself give a 500 and are listed in ``hub.server_errors`` (tests should assert both stay empty);
a client that closes the connection before its reply (a killed upload) is no server error: the
request is listed in ``hub.disconnects`` instead.

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

Layout: ``storage.py`` (repos, commits, blobs), ``validation.py`` (card metadata rules), ``routing.py`` (HTTP
plumbing, routes, auth), ``repos_api.py`` / ``files_api.py`` (the endpoints), ``client.py`` (subprocess environment
and in-process endpoint patching), ``server.py`` (``LocalHub``, ``hub_server``, the ``local_hub`` fixture).
"""

from .server import LocalHub, hub_server, local_hub
from .storage import Commit, Repo
from .validation import validate_card_metadata

__all__ = ["LocalHub", "Repo", "Commit", "hub_server", "local_hub", "validate_card_metadata"]
