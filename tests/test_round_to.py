"""`round_to`: kept MLP widths rounded to a multiple, attention untouched, round_to=1 a no-op, clamps, save/load."""

import copy

import pytest
import torch
from tiny_models import VOCAB, masked_reference, tiny_model
from transformers import AutoModelForCausalLM

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.allocation.strategies import allocate, plan_pruning
from optimum_hywia.allocation.budget import rounded_width, select_kept_units
from optimum_hywia.importance import get_importance

CALIBRATION = torch.randint(0, VOCAB, (4, 16), generator=torch.Generator().manual_seed(3))
INPUT = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(4))
FULL = 44  # MLP channels of the test model: not a multiple of 8, so keeping all of them needs the clamp
BASE = {"pruning_ratio": 0.5, "skip_first_layers": 0, "skip_last_layers": 0}
# (importance, allocation): the unit-budget and the parameter-budget allocations ("learned" needs the fusion)
RUNS = [
    ("magnitude_l1", "layer"),
    ("magnitude_l1", "global"),
    ("magnitude_l1", "llm_pruner"),
    ("magnitude_l1", "cost_aware"),
    ("magnitude_l1", "params_global"),
    ("element1", "fine_implied"),
]


def tiny_llama(seed: int = 0):
    return tiny_model("llama_gqa", seed=seed, intermediate_size=FULL)


def plan_for(model, importance: str, allocation: str, **overrides):
    config = HyWIAConfig(**{**BASE, "importance": importance, "allocation": allocation, **overrides})
    context = HyWIAPruner(config).scoring_context(model, CALIBRATION, None)
    scores = get_importance(importance).score(context)
    return context, scores, plan_pruning(context, scores, allocation)


@pytest.mark.parametrize("importance,allocation", RUNS)
@pytest.mark.parametrize("round_to", [4, 8])
def test_kept_mlp_widths_are_multiples_and_attention_is_unchanged(importance, allocation, round_to):
    model = tiny_llama(seed=1)
    _, _, unrounded = plan_for(model, importance, allocation)
    context, _, plan = plan_for(model, importance, allocation, round_to=round_to)
    for group in context.groups:
        kept = len(plan[group.key])
        if group.kind == "mlp":
            assert kept % round_to == 0 or kept == FULL, (group.key, kept)
            assert kept == rounded_width(len(unrounded[group.key]), FULL, round_to)
        else:
            assert torch.equal(plan[group.key], unrounded[group.key])


@pytest.mark.parametrize("importance,allocation", RUNS)
def test_round_to_one_leaves_the_plan_unchanged(importance, allocation):
    context, scores, plan = plan_for(tiny_llama(seed=2), importance, allocation, round_to=1)
    counts = allocate(allocation, context, scores)
    for group in context.groups:
        assert torch.equal(plan[group.key], select_kept_units(group, scores[group.key], counts[group.key]))


@pytest.mark.parametrize(
    "kept,full,round_to,min_keep,expected",
    [
        (20, 44, 8, 1, 24),  # a tie goes up
        (19, 44, 8, 1, 16),  # nearest
        (3, 44, 8, 1, 8),  # never below round_to
        (3, 44, 8, 10, 16),  # never below min_units_per_layer, and still a multiple
        (42, 44, 8, 1, 44),  # the full width is allowed although not a multiple
        (44, 44, 8, 1, 44),  # an unpruned group stays whole
        (37, 44, 8, 1, 40),
        (30, 40, 64, 1, 40),  # round_to wider than the layer: nothing is removed
        (17, 44, 1, 1, 17),  # round_to=1: unchanged
    ],
)
def test_rounded_width(kept, full, round_to, min_keep, expected):
    assert rounded_width(kept, full, round_to, min_keep) == expected


def test_clamps_in_a_pruned_model():
    pruner = HyWIAPruner(HyWIAConfig(**BASE, importance="magnitude_l1", round_to=64))
    pruner.prune(tiny_llama())
    assert all(widths["intermediate_size"] == FULL for widths in pruner.summary.widths_after)
    pruner = HyWIAPruner(
        HyWIAConfig(**{**BASE, "pruning_ratio": 0.9}, importance="magnitude_l1", round_to=8, min_units_per_layer=10)
    )
    pruner.prune(tiny_llama())
    assert all(widths["intermediate_size"] == 16 for widths in pruner.summary.widths_after)


def test_rounded_model_computes_the_masked_model_and_saves_and_loads(tmp_path):
    config = HyWIAConfig(**BASE, importance="magnitude_l1", allocation="global", round_to=8)
    dense = tiny_llama(seed=5)
    reference = masked_reference(dense, config)
    pruner = HyWIAPruner(config)
    model = pruner.prune(copy.deepcopy(dense))
    mlp_widths = [widths["intermediate_size"] for widths in model.config.layer_widths]
    assert all(width % 8 == 0 for width in mlp_widths) and len(set(mlp_widths)) > 1, mlp_widths
    with torch.no_grad():
        torch.testing.assert_close(model(INPUT).logits, reference(INPUT).logits, rtol=1e-5, atol=1e-5)
    pruner.save_pretrained(model, tmp_path / "pruned")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned").eval()
    assert loaded.config.layer_widths == model.config.layer_widths
    assert loaded.config.hywia["recipe"]["round_to"] == 8
    assert HyWIAConfig.from_pretrained(tmp_path / "pruned") == config
    with torch.no_grad():
        assert torch.equal(loaded(INPUT).logits, model(INPUT).logits)
    generated = loaded.generate(INPUT[:1, :4], max_new_tokens=5, do_sample=False)
    assert torch.equal(generated, model.generate(INPUT[:1, :4], max_new_tokens=5, do_sample=False))


@pytest.mark.parametrize("target, granularity", [("transformers", 8), ("gpu", 64), ("llama.cpp", 64),
                                                 ("llama.cpp-kquant", 256)])
def test_a_target_sets_the_granularity_its_engine_wants(target, granularity):
    assert HyWIAConfig(target=target).round_to == granularity
    assert HyWIAConfig(target=target, round_to=16).round_to == 16  # an explicit granularity wins


def test_an_unknown_target_is_one_clear_error():
    with pytest.raises(ValueError, match=r"`target` must be one of .*'llama\.cpp-kquant'\], got 'vllm'"):
        HyWIAConfig(target="vllm")


def test_the_target_is_recorded_in_the_pruned_model_and_every_mlp_width_follows_it(tmp_path):
    model = tiny_model("llama_gqa", intermediate_size=64)
    config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", target="transformers", skip_first_layers=1,
                         skip_last_layers=1)
    pruned = HyWIAPruner(config).prune(model, torch.randint(0, VOCAB, (2, 8)))
    assert pruned.config.hywia["target"] == "transformers" and pruned.config.hywia["round_to"] == 8
    assert all(w["intermediate_size"] % 8 == 0 for w in pruned.config.layer_widths)
    HyWIAPruner(config).save_pretrained(pruned, tmp_path / "out")
    assert "| target | transformers |" in (tmp_path / "out" / "README.md").read_text().replace("`", "")
