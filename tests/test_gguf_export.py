"""GGUF export: tiny random models (uniform and non-uniform widths, every exportable family) run in llama.cpp with
the logits and greedy tokens of transformers; bad input gets one clear error and nothing is written.

Random tiny models have near-ties among next tokens, so top-1 agreement is judged where transformers' choice is
decisive and greedy tokens are checked against transformers' argmax on llama.cpp's own sequence (up to ties);
`test_integration_gguf.py` asks the real SmolLM2 for plain top-1 agreement and identical greedy text."""

import gguf
import pytest
import torch
from gguf_check import (
    F32_MEAN_ABS_TOLERANCE,
    GREEDY_TOKENS,
    MIN_TOP1_AGREEMENT,
    compare_logits,
    gguf_architecture,
    greedy_ties_only,
    greedy_tokens,
)
from tiny_models import bpe_tokenizer, tiny_model

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.export import UnsupportedExportError, gguf_layout, to_gguf

pytestmark = pytest.mark.gguf
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'optimum-hywia[gguf]'")

PLAIN = {"llama_mha": "llama", "llama_gqa": "llama", "mistral": "llama", "qwen2": "qwen2"}


@pytest.fixture(scope="module")
def tokenizer():
    return bpe_tokenizer()


def prompt(tokenizer, length: int = 48) -> list[int]:
    return torch.randint(0, len(tokenizer), (length,), generator=torch.Generator().manual_seed(7)).tolist()


def exportable_model(family: str, tokenizer, non_uniform: bool, **overrides):
    # weights 5x larger than the default init, so attention (and a wrong rotary layout) moves the logits
    model = tiny_model(family, seed=3, vocab_size=len(tokenizer), max_position_embeddings=256,
                       **{"initializer_range": 0.1, **overrides})
    if not non_uniform:
        return model
    config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation="cost_aware",
                         skip_first_layers=1, skip_last_layers=0)
    calibration = torch.randint(0, len(tokenizer), (4, 16), generator=torch.Generator().manual_seed(1))
    pruned = HyWIAPruner(config).prune(model, calibration_data=calibration)
    widths = pruned.config.layer_widths
    assert any(w != widths[0] for w in widths), "the test needs non-uniform widths"
    return pruned


@pytest.mark.parametrize("non_uniform", [False, True], ids=["uniform", "non_uniform"])
@pytest.mark.parametrize("family", sorted(PLAIN))
def test_f32_export_matches_transformers(family, non_uniform, tokenizer, tmp_path):
    model = exportable_model(family, tokenizer, non_uniform)
    path = to_gguf(model, tokenizer, tmp_path / "model.gguf", dtype="f32", progress=False)
    assert gguf_architecture(path) == ("deci" if non_uniform else PLAIN[family])
    ids = prompt(tokenizer)
    agreement = compare_logits(model, path, ids)
    assert agreement.decisive_share >= 0.8 and agreement.decisive_top1 >= MIN_TOP1_AGREEMENT, agreement
    assert agreement.mean_abs <= F32_MEAN_ABS_TOLERANCE, agreement
    ours, _ = greedy_tokens(model, path, ids[:8])
    assert len(ours) == GREEDY_TOKENS and greedy_ties_only(model, ids[:8], ours) == []


@pytest.mark.parametrize("dtype", ["f16", "bf16", "q8_0"])
def test_smaller_dtypes_load_and_stay_close(dtype, tokenizer, tmp_path):
    model = exportable_model("llama_gqa", tokenizer, non_uniform=True, hidden_size=96)  # rows of 96: q8_0 blocks
    f32 = to_gguf(model, tokenizer, tmp_path / "f32.gguf", dtype="f32", progress=False)
    small = to_gguf(model, tokenizer, tmp_path / f"{dtype}.gguf", dtype=dtype, progress=False)
    assert small.stat().st_size < f32.stat().st_size
    stored = {tensor.name: tensor.tensor_type.name for tensor in gguf.GGUFReader(small).tensors}
    assert stored["blk.1.attn_q.weight"] == dtype.upper() and stored["blk.1.attn_norm.weight"] == "F32"
    agreement = compare_logits(model, small, prompt(tokenizer))
    assert agreement.top1 >= 0.9 and agreement.mean_abs < 0.05, agreement


def test_unsupported_family_is_refused_before_writing(tokenizer, tmp_path):
    model = tiny_model("bloom", vocab_size=len(tokenizer))
    with pytest.raises(UnsupportedExportError, match=r"`bloom`.*supported: \['llama', 'mistral', 'qwen2'\]"):
        to_gguf(model, tokenizer, tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_kept_unless_overwrite(tokenizer, tmp_path):
    model = exportable_model("llama_gqa", tokenizer, non_uniform=False)
    path = tmp_path / "notes.gguf"
    path.write_text("a user's file")
    with pytest.raises(FileExistsError, match="not a GGUF written by optimum-hywia"):
        to_gguf(model, tokenizer, path, progress=False)
    assert path.read_text() == "a user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.gguf"]  # no temporary file left behind
    to_gguf(model, tokenizer, path, overwrite=True, progress=False)
    assert gguf_architecture(path) == "llama"
    to_gguf(model, tokenizer, path, dtype="f32", progress=False)  # a GGUF we wrote is replaced without asking
    assert gguf_architecture(path) == "llama"


def test_bad_dtype_is_refused(tokenizer, tmp_path):
    model = exportable_model("llama_gqa", tokenizer, non_uniform=False)
    with pytest.raises(ValueError, match=r"`dtype` must be one of .*'q8_0'.*got 'int4'"):
        to_gguf(model, tokenizer, tmp_path / "model.gguf", dtype="int4")
    assert list(tmp_path.iterdir()) == []


def test_layout_reads_widths_from_the_layers(tokenizer):
    model = exportable_model("llama_gqa", tokenizer, non_uniform=True)
    layout = gguf_layout(model)
    assert [w.ffn for w in layout.layers] == [w["intermediate_size"] for w in model.config.layer_widths]
    assert [w.kv_heads for w in layout.layers] == [w["num_key_value_heads"] for w in model.config.layer_widths]
    assert not layout.uniform and layout.architecture == "deci"


@pytest.mark.parametrize("rope", [
    {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
    {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 16},
], ids=["linear", "llama3"])
def test_rope_scaling_is_reproduced(rope, tokenizer, tmp_path):
    model = exportable_model("llama_gqa", tokenizer, non_uniform=True, rope_parameters=rope)
    path = to_gguf(model, tokenizer, tmp_path / "model.gguf", dtype="f32", progress=False)
    agreement = compare_logits(model, path, prompt(tokenizer))
    assert agreement.decisive_top1 >= MIN_TOP1_AGREEMENT and agreement.mean_abs <= F32_MEAN_ABS_TOLERANCE, agreement


def test_k_quant_names_on_the_command_line_are_the_quantizers():
    from optimum_hywia.commands.export import K_QUANT_NAMES
    from optimum_hywia.export.quantize import K_QUANTS

    assert K_QUANT_NAMES == tuple(K_QUANTS)


def test_q4_k_m_export_runs_in_llama_cpp_and_falls_back_only_where_rows_are_not_multiples_of_256(tokenizer,
                                                                                                   tmp_path):
    from optimum_hywia.export.quantize import K_QUANT_TYPES, fallback_tensors, tensor_types

    model = exportable_model("llama_gqa", tokenizer, non_uniform=True, hidden_size=256, intermediate_size=512,
                             num_attention_heads=4, num_key_value_heads=2)
    path = to_gguf(model, tokenizer, tmp_path / "q4_k_m.gguf", dtype="q4_k_m", progress=False)
    f16 = to_gguf(model, tokenizer, tmp_path / "f16.gguf", dtype="f16", progress=False)
    assert gguf_architecture(path) == "deci" and path.stat().st_size < f16.stat().st_size
    assert set(tensor_types(path)) & K_QUANT_TYPES
    # a weight falls back exactly when its row (input width) is not a multiple of llama.cpp's 256-value blocks
    rows = {tensor.name: int(tensor.shape[0]) for tensor in gguf.GGUFReader(path).tensors if len(tensor.shape) == 2}
    expected = sorted(name for name, row in rows.items()
                      if row % 256 and name not in ("token_embd.weight", "output.weight"))
    assert sorted(fallback_tensors(path)) == expected and any("ffn_down" in name for name in expected)
    ours, _ = greedy_tokens(model, path, prompt(tokenizer)[:8])
    assert len(ours) == GREEDY_TOKENS  # loads and generates with per-layer widths
