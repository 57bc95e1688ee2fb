"""Integration: SmolLM2-135M pruned with the default HyWIA (learned, non-uniform widths) at 20% and 50%, and by
magnitude under a non-uniform parameter budget, exported to an f32 GGUF, runs in llama.cpp with transformers'
next-token choices and greedy text."""

import pytest
from gguf_check import F32_MEAN_ABS_TOLERANCE, MIN_TOP1_AGREEMENT, compare_logits, gguf_architecture, greedy_tokens

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.data import load_text
from optimum_hywia.export import to_gguf

pytestmark = [pytest.mark.integration, pytest.mark.gguf]
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'optimum-hywia[gguf]'")


CONFIGS = {
    "hywia-20": dict(pruning_ratio=0.2),  # the default HyWIA: learned fusion and allocation
    "hywia-50": dict(pruning_ratio=0.5),
    # data-free and fast: non-uniform widths from a parameter-budget allocation
    "magnitude-cost_aware-50": dict(pruning_ratio=0.5, importance="magnitude_l1", allocation="cost_aware"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_pruned_smollm2_runs_in_llama_cpp_like_transformers(name, tmp_path):
    from optimum_hywia.data import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("builtin:smollm2-135m")
    model = HyWIAPruner(HyWIAConfig(**CONFIGS[name])).prune(model, tokenizer=tokenizer)
    widths = model.config.layer_widths
    assert any(w != widths[0] for w in widths), "the test needs non-uniform widths"
    path = to_gguf(model, tokenizer, tmp_path / "smollm2.gguf", dtype="f32", progress=False)
    assert gguf_architecture(path) == "deci"
    # 200 tokens of held-out text: 200 next-token positions compared
    ids = tokenizer(load_text("builtin:prideprejudice")[:1500]).input_ids[:200]
    agreement = compare_logits(model, path, ids)
    assert agreement.top1 >= MIN_TOP1_AGREEMENT, agreement
    assert agreement.mean_abs <= F32_MEAN_ABS_TOLERANCE, agreement
    prompt = tokenizer("It is a truth universally acknowledged").input_ids
    ours, reference = greedy_tokens(model, path, prompt)
    assert ours == reference, (tokenizer.decode(ours), tokenizer.decode(reference))
