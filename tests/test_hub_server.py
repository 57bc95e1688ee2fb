"""Tests for tests/hub/: the real huggingface_hub / transformers clients, over real HTTP.

Clients run in subprocesses (``LocalHub.run_python``) because huggingface_hub reads ``HF_ENDPOINT``
at import time; each subprocess gets its own ``HF_HOME`` under ``tmp_path``. Every client snippet
ends by printing one ``RESULT <json>`` line that the test asserts on.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hub_server import LocalHub, hub_server, local_hub, validate_card_metadata  # noqa: E402,F401

# Upload/download only ever use these routes: no LFS batch, no xet token, nothing unhandled.
_ALLOWED_API = ("/api/whoami-v2", "/api/repos/", "/api/validate-yaml", "/api/models/", "/api/agent-harnesses")


def _run(hub: LocalHub, code: str, tmp_path, name: str, **kwargs) -> dict:
    proc = hub.run_python(textwrap.dedent(code), hf_home=tmp_path / f"hf_{name}", **kwargs)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"expected one RESULT line, got stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(lines[0][len("RESULT "):])


def _assert_clean(hub: LocalHub) -> None:
    assert hub.unhandled == [], hub.unhandled
    assert hub.server_errors == [], hub.server_errors
    for method, path, _status in hub.requests:
        assert path.startswith(_ALLOWED_API) or "/resolve/" in path, (method, path)
        assert "lfs" not in path and "xet" not in path, (method, path)


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ------------------------------------------------------------------------------------------
# huggingface_hub client
# ------------------------------------------------------------------------------------------


def test_create_upload_list_download_roundtrip(local_hub, tmp_path):
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    files = {
        "config.json": b'{"a": 1}\n',
        "nested/weights.bin": os.urandom(3000),
        "nested/deeper/notes.txt": "unicode \u00e9\u4e2d\n".encode(),
        "empty.txt": b"",
    }
    for rel, data in files.items():
        (src / rel).write_bytes(data)

    out = _run(local_hub, f"""
        import json, hashlib
        from huggingface_hub import HfApi, hf_hub_download, list_repo_files
        from huggingface_hub.utils._detect_agent import _fetch_registry
        api = HfApi()
        token = {local_hub.token!r}
        res = {{}}
        res["whoami"] = api.whoami(token=token)["name"]
        res["registry"] = _fetch_registry()
        res["repo_url"] = str(api.create_repo("user/roundtrip", token=token))
        res["repo_url_again"] = str(api.create_repo("user/roundtrip", token=token, exist_ok=True))
        info = api.upload_folder(folder_path={str(src)!r}, repo_id="user/roundtrip", token=token)
        res["commit_oid"] = info.oid
        res["files"] = list_repo_files("user/roundtrip")
        res["downloads"] = {{
            f: hashlib.sha256(open(hf_hub_download("user/roundtrip", f), "rb").read()).hexdigest()
            for f in res["files"]
        }}
        mi = api.model_info("user/roundtrip", files_metadata=True)
        res["sha"] = mi.sha
        res["siblings"] = {{s.rfilename: [s.size, s.blob_id] for s in mi.siblings}}
        # Unchanged files are detected via the preupload oids: no new commit.
        res["noop_oid"] = api.upload_folder(folder_path={str(src)!r}, repo_id="user/roundtrip", token=token).oid
        # Delete + add in one commit.
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        c = api.create_commit("user/roundtrip", operations=[
            CommitOperationDelete("nested/deeper/"), CommitOperationAdd("extra.txt", b"x")],
            commit_message="second", token=token)
        res["second_oid"] = c.oid
        res["files_after"] = api.list_repo_files("user/roundtrip")
        res["old_files"] = api.list_repo_files("user/roundtrip", revision=res["commit_oid"])
        res["history"] = [[x.commit_id, x.title] for x in api.list_repo_commits("user/roundtrip")]
        # Branches, then create + delete a throwaway repo.
        api.create_branch("user/roundtrip", branch="dev", token=token)
        api.upload_file(path_or_fileobj=b"dev", path_in_repo="dev.txt", repo_id="user/roundtrip",
                        revision="dev", token=token)
        res["dev_files"] = api.list_repo_files("user/roundtrip", revision="dev")
        res["branches"] = sorted(b.name for b in api.list_repo_refs("user/roundtrip").branches)
        api.create_repo("user/tmp", token=token)
        api.delete_repo("user/tmp", token=token)
        res["tmp_exists"] = api.repo_exists("user/tmp")
        print("RESULT " + json.dumps(res))
    """, tmp_path, "roundtrip")

    repo = local_hub.repos["user/roundtrip"]
    assert out["whoami"] == "user"
    assert out["registry"] == {"standardEnvVars": [], "harnesses": {}}
    assert out["repo_url"] == out["repo_url_again"] == f"{local_hub.url}/user/roundtrip"
    assert out["files"] == sorted([".gitattributes", *files])
    for rel, data in files.items():
        assert out["downloads"][rel] == hashlib.sha256(data).hexdigest(), rel
        assert out["siblings"][rel] == [len(data), _git_blob_id(data)], rel
        assert repo.files(out["commit_oid"])[rel] == data
    assert out["sha"] == out["commit_oid"] == out["noop_oid"]
    assert out["second_oid"] == repo.head != out["commit_oid"]
    assert out["files_after"] == sorted([".gitattributes", "config.json", "empty.txt", "extra.txt",
                                         "nested/weights.bin"])
    assert out["old_files"] == out["files"]
    assert [t for _, t in out["history"]] == ["second", "Upload folder using huggingface_hub", "initial commit"]
    assert [s for s, _ in out["history"]] == [c.sha for c in repo.history()]
    assert len(repo.history()) == 3  # main is untouched by the commit to "dev"
    assert out["dev_files"] == sorted([*out["files_after"], "dev.txt"])
    assert out["branches"] == ["dev", "main"] and repo.files("dev")["dev.txt"] == b"dev"
    assert out["tmp_exists"] is False and "user/tmp" not in local_hub.repos
    # Everything went through "regular" uploads: preupload + ndjson commit, never LFS / xet.
    assert any(p.startswith("/api/models/user/roundtrip/preupload/") for _, p, _ in local_hub.requests)
    _assert_clean(local_hub)


def test_auth_missing_invalid_readonly_and_private(local_hub, tmp_path):
    local_hub.tokens["hf_readonly"] = ("user", "read")
    local_hub.tokens["hf_other"] = ("other", "write")
    out = _run(local_hub, f"""
        import json
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
        api = HfApi()
        res = {{}}
        def attempt(name, fn):
            try:
                fn()
                res[name] = "ok"
            except HfHubHTTPError as e:
                res[name] = [type(e).__name__, e.response.status_code, str(e)]
        attempt("create_no_token", lambda: api.create_repo("user/x"))
        attempt("create_bad_token", lambda: api.create_repo("user/x", token="hf_wrong"))
        attempt("create_read_token", lambda: api.create_repo("user/x", token="hf_readonly"))
        attempt("create_other_ns", lambda: api.create_repo("user/x", token="hf_other"))
        attempt("create_private", lambda: api.create_repo("user/x", token={local_hub.token!r}, private=True))
        attempt("upload_no_token", lambda: api.upload_file(path_or_fileobj=b"1", path_in_repo="a", repo_id="user/x"))
        attempt("info_anon", lambda: api.model_info("user/x"))
        attempt("info_other", lambda: api.model_info("user/x", token="hf_other"))
        attempt("info_owner", lambda: api.model_info("user/x", token={local_hub.token!r}))
        attempt("info_bad_token", lambda: api.model_info("user/x", token="hf_wrong"))
        print("RESULT " + json.dumps(res))
    """, tmp_path, "auth")

    for key in ("create_no_token", "create_bad_token", "upload_no_token"):
        name, status, message = out[key]
        assert (name, status) == ("HfHubHTTPError", 401), out[key]
    assert "Authorization: Bearer" in out["create_no_token"][2]
    assert "Invalid credentials" in out["create_bad_token"][2]
    assert out["create_read_token"][1] == 403 and "read-only" in out["create_read_token"][2]
    assert out["create_other_ns"][1] == 403 and "cannot write to namespace 'user'" in out["create_other_ns"][2]
    assert out["create_private"] == "ok"
    assert out["info_anon"][:2] == ["RepositoryNotFoundError", 404]
    assert out["info_other"][:2] == ["RepositoryNotFoundError", 404]
    assert out["info_owner"] == "ok"
    assert out["info_bad_token"][1] == 401
    assert list(local_hub.repos) == ["user/x"] and local_hub.repos["user/x"].private
    assert [p for p, _ in local_hub.repos["user/x"].files().items()] == [".gitattributes"]
    _assert_clean(local_hub)


def test_fail_next_commit_then_retry(local_hub, tmp_path):
    local_hub.fail_next_commit = True
    out = _run(local_hub, f"""
        import json
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
        api = HfApi(token={local_hub.token!r})
        api.create_repo("user/flaky")
        res = {{"before": api.model_info("user/flaky").sha}}
        try:
            api.upload_file(path_or_fileobj=b"aaa", path_in_repo="a.txt", repo_id="user/flaky")
            res["first"] = "no error"
        except HfHubHTTPError as e:
            res["first"] = [type(e).__name__, e.response.status_code, str(e)]
        res["after_failure"] = api.model_info("user/flaky").sha
        res["retry"] = api.upload_file(path_or_fileobj=b"aaa", path_in_repo="a.txt", repo_id="user/flaky").oid
        print("RESULT " + json.dumps(res))
    """, tmp_path, "flaky")

    assert out["first"][:2] == ["HfHubHTTPError", 500], out["first"]
    assert "Injected failure" in out["first"][2]
    assert out["after_failure"] == out["before"]  # the failed commit changed nothing
    repo = local_hub.repos["user/flaky"]
    assert out["retry"] == repo.head and repo.files()["a.txt"] == b"aaa"
    assert len(repo.history()) == 2 and local_hub.fail_next_commit == 0

    # upload_folder (pipelined path, hf_xet installed) retries a 5xx commit itself (~1 s backoff):
    # a single injected failure is absorbed and the upload succeeds.
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "b.txt").write_bytes(b"bbb")
    local_hub.fail_next_commit = 1
    out = _run(local_hub, f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi(token={local_hub.token!r})
        oid = api.upload_folder(folder_path={str(tmp_path / "folder")!r}, repo_id="user/flaky").oid
        print("RESULT " + json.dumps({{"oid": oid, "files": api.list_repo_files("user/flaky")}}))
    """, tmp_path, "flaky_folder")
    assert out["files"] == [".gitattributes", "a.txt", "b.txt"]
    assert out["oid"] == repo.head and len(repo.history()) == 3
    assert [s for _, p, s in local_hub.requests if "/commit/" in p] == [500, 200, 500, 200]
    _assert_clean(local_hub)


def test_model_card_validation(local_hub, tmp_path):
    good = textwrap.dedent("""\
        ---
        license: mit
        tags: [pruning, llama]
        base_model: [org/base-a, org/base-b]
        model-index:
        - name: tiny
          results:
          - task: {type: text-generation}
            dataset: {name: WikiText-2, type: wikitext}
            metrics: [{type: perplexity, value: 12.5}]
        ---
        # Tiny
        """)
    bad_license = "---\nlicense: [mit, apache-2.0]\n---\n# x\n"
    bad_base = "---\nbase_model: 3\n---\n# x\n"
    bad_index = "---\nmodel-index:\n- name: m\n  results:\n  - task: {}\n    metrics: []\n---\n"
    out = _run(local_hub, f"""
        import json
        from huggingface_hub import HfApi, ModelCard
        api = HfApi(token={local_hub.token!r})
        api.create_repo("user/card")
        res = {{}}
        ModelCard({good!r}).validate()
        res["push"] = ModelCard({good!r}).push_to_hub("user/card", token={local_hub.token!r})
        for name, text in [("license", {bad_license!r}), ("base", {bad_base!r})]:
            try:
                ModelCard(text).validate()
                res[name] = "no error"
            except ValueError as e:
                res[name] = str(e)
        try:
            ModelCard({bad_base!r}).push_to_hub("user/card", token={local_hub.token!r})
            res["push_bad"] = "no error"
        except ValueError as e:
            res["push_bad"] = str(e)
        try:  # the client parses model-index itself, so send it as a plain README upload
            api.upload_file(path_or_fileobj={bad_index!r}.encode(), path_in_repo="README.md", repo_id="user/card")
            res["index"] = "no error"
        except ValueError as e:
            res["index"] = str(e)
        print("RESULT " + json.dumps(res))
    """, tmp_path, "card")

    assert out["license"].startswith("Invalid metadata in README.md")
    assert '"license" must be a string, got list' in out["license"]
    assert '"base_model" must be a string or a list of strings, got 3' in out["base"]
    assert '"base_model" must be a string' in out["push_bad"]
    assert "Invalid metadata in README.md" in out["index"]
    for needle in ('"model-index[0].results[0].task.type" is required',
                   '"model-index[0].results[0].dataset" is required',
                   '"model-index[0].results[0].metrics" is required'):
        assert needle in out["index"], out["index"]
    # Only the valid card landed on the server; the invalid ones were rejected server-side.
    readme = local_hub.repos["user/card"].files()["README.md"].decode()
    assert "base-a" in readme and "perplexity" in readme
    assert len(local_hub.repos["user/card"].history()) == 2
    assert sum(1 for v in local_hub.validations if v["errors"]) == 4
    _assert_clean(local_hub)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("# no metadata\n", []),
        ("---\nlicense: apache-2.0\ntags: [a]\nbase_model: x/y\n---\n", []),
        ("---\nlicense: 3\n---\n", ['"license" must be a string, got int']),
        ("---\ntags: a\n---\n", ['"tags" must be a list of strings']),
        ("---\ntags: [a, 1]\n---\n", ['"tags" must be a list of strings']),
        ("---\nbase_model: [a, {b: c}]\n---\n", ['"base_model" must be a string or a list of strings']),
        ("---\nmodel-index: {name: x}\n---\n", ['"model-index" must be a list, got dict']),
        ("---\nmodel-index:\n- results: []\n---\n", ['"model-index[0].name" is required']),
        ("---\nmodel-index:\n- name: n\n  results:\n  - task: {type: t}\n    dataset: {name: d}\n"
         "    metrics: [{type: acc}]\n---\n",
         ['"model-index[0].results[0].dataset.type" is required', '"model-index[0].results[0].metrics[0].value"']),
        ("---\n- just\n- a list\n---\n", ["must be a YAML mapping, got list"]),
        ("---\nlicense: [unclosed\n---\n", ["Invalid YAML"]),
    ],
)
def test_validate_card_metadata_rules(content, expected):
    errors, warnings, _ = validate_card_metadata(content)
    assert len(errors) == len(expected), errors
    for needle, error in zip(expected, errors):
        assert needle in error
    if content.startswith("# no metadata"):
        assert warnings and "metadata" in warnings[0]
    # Only model repos get the model schema checks.
    if expected and "YAML" not in expected[0]:
        assert validate_card_metadata(content, repo_type="dataset")[0] == []


# ------------------------------------------------------------------------------------------
# transformers push_to_hub / from_pretrained
# ------------------------------------------------------------------------------------------


def test_transformers_push_to_hub_then_from_pretrained(local_hub, tmp_path):
    logits_path = tmp_path / "logits.pt"
    local_hub.fail_next_commit = True  # the first push fails at the commit, the retry succeeds
    env = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    pushed = _run(local_hub, f"""
        import json, torch
        from huggingface_hub.errors import HfHubHTTPError
        from transformers import LlamaConfig, LlamaForCausalLM
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=4)
        model = LlamaForCausalLM(cfg).eval()
        res = {{}}
        try:
            model.push_to_hub("user/tiny", token={local_hub.token!r})
            res["first"] = "no error"
        except HfHubHTTPError as e:
            res["first"] = e.response.status_code
        res["commit"] = model.push_to_hub("user/tiny", token={local_hub.token!r}).oid
        with torch.no_grad():
            torch.save(model(torch.arange(12).unsqueeze(0)).logits, {str(logits_path)!r})
        print("RESULT " + json.dumps(res))
    """, tmp_path, "push", extra_env=env)

    assert pushed["first"] == 500
    repo = local_hub.repos["user/tiny"]
    assert pushed["commit"] == repo.head
    assert {"config.json", "model.safetensors", "README.md"} <= set(repo.files())
    n_requests = len(local_hub.requests)

    pulled = _run(local_hub, f"""
        import json, torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained("user/tiny").eval()
        with torch.no_grad():
            logits = model(torch.arange(12).unsqueeze(0)).logits
        expected = torch.load({str(logits_path)!r})
        print("RESULT " + json.dumps({{"equal": bool(torch.equal(logits, expected)),
                                      "shape": list(logits.shape), "type": type(model).__name__}}))
    """, tmp_path, "pull", extra_env=env)

    assert pulled == {"equal": True, "shape": [1, 12, 64], "type": "LlamaForCausalLM"}
    downloaded = [p for m, p, s in local_hub.requests[n_requests:] if m == "GET" and "/resolve/" in p and s == 200]
    assert any(p.endswith("/model.safetensors") for p in downloaded)
    _assert_clean(local_hub)


# ------------------------------------------------------------------------------------------
# Raw HTTP details and the in-process helper
# ------------------------------------------------------------------------------------------


def _http(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_resolve_headers_ranges_and_errors():
    with hub_server() as hub:
        auth = {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/json"}
        status, _, _ = _http(f"{hub.url}/api/repos/create", "POST", auth, b'{"name": "raw"}')
        assert status == 200
        content = bytes(range(256)) * 4
        ndjson = b"\n".join(json.dumps(x).encode() for x in [
            {"key": "header", "value": {"summary": "add"}},
            {"key": "file", "value": {"path": "dir/f.bin", "encoding": "base64",
                                      "content": __import__("base64").b64encode(content).decode()}},
        ])
        status, _, body = _http(f"{hub.url}/api/models/user/raw/commit/main", "POST",
                                {**auth, "Content-Type": "application/x-ndjson"}, ndjson)
        assert status == 200, body
        sha = json.loads(body)["commitOid"]
        assert sha == hub.repos["user/raw"].head

        status, headers, body = _http(f"{hub.url}/user/raw/resolve/main/dir/f.bin", "HEAD")
        assert status == 200 and body == b""
        assert headers["ETag"] == f'"{_git_blob_id(content)}"'
        assert headers["X-Repo-Commit"] == sha and headers["Content-Length"] == str(len(content))
        status, headers, body = _http(f"{hub.url}/user/raw/resolve/{sha}/dir/f.bin", headers={"Range": "bytes=10-19"})
        assert (status, body) == (206, content[10:20]) and headers["Content-Range"] == f"bytes 10-19/{len(content)}"

        for url, code in [
            (f"{hub.url}/user/raw/resolve/main/missing.txt", "EntryNotFound"),
            (f"{hub.url}/user/raw/resolve/nobranch/dir/f.bin", "RevisionNotFound"),
            (f"{hub.url}/user/nope/resolve/main/x", "RepoNotFound"),
            (f"{hub.url}/api/models/user/nope", "RepoNotFound"),
        ]:
            status, headers, _ = _http(url)
            assert (status, headers.get("X-Error-Code")) == (404, code), url

        # Stale parentCommit -> 412; commit applied atomically (nothing changed).
        stale = ndjson.replace(b'"summary": "add"', b'"summary": "x", "parentCommit": "' + b"0" * 40 + b'"')
        status, _, _ = _http(f"{hub.url}/api/models/user/raw/commit/main", "POST", auth, stale)
        assert status == 412 and hub.repos["user/raw"].head == sha

        status, _, _ = _http(f"{hub.url}/api/spaces/user/raw")
        assert status == 404 and hub.unhandled == [("GET", "/api/spaces/user/raw")]
        assert hub.server_errors == []


def test_patch_endpoint_in_process(tmp_path):
    from huggingface_hub import HfApi, constants, hf_hub_download

    original = (constants.ENDPOINT, constants.HF_HUB_OFFLINE)
    with hub_server() as hub, hub.patch_endpoint():
        api = HfApi(token=hub.token)
        api.create_repo("user/inproc")
        api.upload_file(path_or_fileobj=b"payload", path_in_repo="p.txt", repo_id="user/inproc")
        path = hf_hub_download("user/inproc", "p.txt", cache_dir=tmp_path / "cache")
        assert open(path, "rb").read() == b"payload"
        assert hub.server_errors == [] and hub.unhandled == []
    assert (constants.ENDPOINT, constants.HF_HUB_OFFLINE) == original
