"""forward_flops: a hand count on a tiny Llama, the Linear FLOPs an actual forward pass runs, pruned < dense."""

import pytest
import torch
from tiny_models import VOCAB
from torch import nn

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.evaluation import forward_flops

# tiny llama_gqa: hidden 48, MLP 40, 4 layers, 6 query heads and 2 KV heads of head_dim 8, vocab 96, tied embeddings
LAYER_MACS = 48 * 48 + 2 * (48 * 16) + 48 * 48 + 3 * (48 * 40)  # q, k and v, o, gate/up/down: per token
HEAD_MACS = 48 * VOCAB


def test_hand_count_prefill_and_decode(make_tiny_model):
    model = make_tiny_model("llama_gqa")
    prefill = forward_flops(model, new_tokens=5, batch_size=2)
    assert prefill.linear == 2 * 2 * 5 * (4 * LAYER_MACS + HEAD_MACS)
    assert prefill.attention == 4 * 2 * (2 * 2 * 5 * 5 * 6 * 8)  # layers x (QKᵀ, AV) x full causal square
    assert prefill.total == prefill.linear + prefill.attention
    step = forward_flops(model, new_tokens=1, past_tokens=7, batch_size=2)
    assert step.linear == 2 * 2 * (4 * LAYER_MACS + HEAD_MACS)
    assert step.attention == 4 * 2 * (2 * 2 * 1 * 8 * 6 * 8)
    last_only = forward_flops(model, new_tokens=5, batch_size=2, logits_to_keep=1)
    assert prefill.linear - last_only.linear == 2 * 2 * 4 * HEAD_MACS


def measured_linear_flops(model, **inputs) -> int:
    """2 x in x out per row that actually goes through each nn.Linear during one forward pass."""
    total = []

    def count(module, args, output):
        total.append(2 * args[0].numel() * module.out_features)

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            output = model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return sum(total), output


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
def test_linear_count_matches_a_forward_pass(make_tiny_model, family, pruned):
    model = make_tiny_model(family, seed=3)
    if pruned:
        config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation="global", skip_first_layers=1)
        model = HyWIAPruner(config).prune(model)
    ids = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0))
    measured, output = measured_linear_flops(model, input_ids=ids, use_cache=True, logits_to_keep=1)
    assert measured == forward_flops(model, new_tokens=6, batch_size=2, logits_to_keep=1).linear
    step, _ = measured_linear_flops(model, input_ids=ids[:, :1], cache=output.cache)
    assert step == forward_flops(model, new_tokens=1, past_tokens=6, batch_size=2).linear


def test_pruned_model_counts_its_own_widths(make_tiny_model):
    dense = make_tiny_model("llama_gqa", seed=4)
    dense_prefill, dense_step = forward_flops(dense, 32), forward_flops(dense, 1, past_tokens=32)
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation="global"))
    pruned = pruner.prune(dense)
    prefill, step = forward_flops(pruned, 32), forward_flops(pruned, 1, past_tokens=32)
    assert prefill.linear < dense_prefill.linear and prefill.attention < dense_prefill.attention
    assert step.total < dense_step.total
    widths = pruner.summary.widths_after
    layer_macs = sum(
        2 * 48 * 8 * w["num_attention_heads"] + 2 * 48 * 8 * w["num_key_value_heads"] + 3 * 48 * w["intermediate_size"]
        for w in widths
    )
    assert step.linear == 2 * (layer_macs + HEAD_MACS)
    assert step.attention == sum(2 * 2 * 33 * 8 * w["num_attention_heads"] for w in widths)


def test_rejects_bad_arguments(make_tiny_model):
    with pytest.raises(ValueError, match="new_tokens >= 1"):
        forward_flops(make_tiny_model("llama_gqa"), new_tokens=0)
