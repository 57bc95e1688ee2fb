"""Surgery on every tiny family: shapes, exact equivalence with masking, dtype, minimum widths, errors."""


import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from optimum_hywia import HyWIAConfig, HyWIAPruner, get_architecture_spec
from optimum_hywia.modeling import is_pruned_model

from tiny_models import VOCAB, masked_reference

INPUT = torch.randint(0, VOCAB, (2, 11), generator=torch.Generator().manual_seed(3))


def prune(model, **kwargs):
    pruner = HyWIAPruner(HyWIAConfig(**{"importance": "magnitude_l1", "skip_first_layers": 1, "skip_last_layers": 1,
                                        **kwargs}))
    return pruner.prune(model), pruner


@pytest.mark.parametrize("gqa_mode", ["kv_group", "query_heads"])
@pytest.mark.parametrize("allocation", ["layer", "global"])
def test_pruned_logits_equal_masked_dense_model(family, make_tiny_model, gqa_mode, allocation):
    dense = make_tiny_model(family)
    config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", skip_first_layers=1, skip_last_layers=1,
                         allocation=allocation, gqa_mode=gqa_mode)
    reference = masked_reference(dense, config)
    pruned = HyWIAPruner(config).prune(dense)
    with torch.no_grad():
        torch.testing.assert_close(pruned(INPUT).logits, reference(INPUT).logits, atol=1e-5, rtol=1e-5)


def test_shapes_follow_recorded_widths(family, make_tiny_model):
    model, pruner = prune(make_tiny_model(family), pruning_ratio=0.5, allocation="global")
    assert is_pruned_model(model)
    spec = get_architecture_spec(model)
    for layer, widths in zip(spec.layers(model), model.config.layer_widths):
        attention = layer.self_attn
        assert attention.q_proj.out_features == widths["num_attention_heads"] * attention.head_dim
        assert attention.k_proj.out_features == widths["num_key_value_heads"] * attention.head_dim
        assert attention.o_proj.in_features == attention.q_proj.out_features
        assert layer.mlp.down_proj.in_features == layer.mlp.up_proj.out_features == widths["intermediate_size"]
        assert attention.num_key_value_groups == widths["num_attention_heads"] // widths["num_key_value_heads"]
    assert pruner.summary.params_after < pruner.summary.params_before
    assert model.config.layer_widths[0] == pruner.summary.widths_before[0]  # skipped layer untouched


def test_removing_zero_units_changes_no_logit(family, make_tiny_model):
    dense = make_tiny_model(family)
    with torch.no_grad():
        expected = dense(INPUT).logits.clone()
    model, pruner = prune(dense, pruning_ratio=0.0)
    with torch.no_grad():
        assert torch.equal(model(INPUT).logits, expected)
    assert pruner.summary.params_after == pruner.summary.params_before


def test_dtype_and_requires_grad_are_kept(make_tiny_model):
    model = make_tiny_model("qwen2").to(torch.bfloat16)
    model.model.layers[1].mlp.up_proj.weight.requires_grad_(False)
    model, _ = prune(model, pruning_ratio=0.5)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.model.layers[1].self_attn.q_proj.bias.dtype == torch.bfloat16
    assert not model.model.layers[1].mlp.up_proj.weight.requires_grad


@pytest.mark.parametrize("allocation", ["layer", "global"])
def test_a_layer_always_keeps_a_minimum(make_tiny_model, allocation):
    model, _ = prune(make_tiny_model("llama_gqa"), pruning_ratio=0.99, allocation=allocation)
    for widths in model.config.layer_widths:
        assert widths["num_key_value_heads"] >= 1 and widths["intermediate_size"] >= 1


def test_query_heads_mode_keeps_every_kv_head_and_equal_groups(make_tiny_model):
    model, _ = prune(make_tiny_model("llama_gqa"), pruning_ratio=0.5, gqa_mode="query_heads")
    for widths in model.config.layer_widths[1:-1]:
        assert widths["num_key_value_heads"] == 2
        assert widths["num_attention_heads"] == 4  # 6 query heads, 2 groups, each group drops one


def test_cached_generation_matches_uncached(family, make_tiny_model):
    model, _ = prune(make_tiny_model(family), pruning_ratio=0.5, allocation="global")
    prompt = INPUT[:1, :5]
    cached = model.generate(prompt, max_new_tokens=6, do_sample=False, use_cache=True)
    uncached = model.generate(prompt, max_new_tokens=6, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached)


def test_only_selected_kinds_are_pruned(make_tiny_model):
    model, _ = prune(make_tiny_model("llama_mha"), pruning_ratio=0.5, prune_attention=False)
    assert all(w["num_attention_heads"] == 6 for w in model.config.layer_widths)
    assert model.config.layer_widths[1]["intermediate_size"] == 20


def test_unsupported_architecture_lists_supported_ones():
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=64))
    with pytest.raises(ValueError, match="Unsupported architecture `GPT2LMHeadModel`.*LlamaForCausalLM"):
        HyWIAPruner(HyWIAConfig()).prune(model)


def test_summary_prints_a_table(make_tiny_model):
    _, pruner = prune(make_tiny_model("llama_gqa"), pruning_ratio=0.5)
    table = str(pruner.summary)
    assert "parameters:" in table and "| layer |" in table and "→" in table
    assert pruner.summary.to_dict()["kept_fraction"] < 1
