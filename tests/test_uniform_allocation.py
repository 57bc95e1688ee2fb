"""The `uniform` allocation: the same widths in every pruned layer, MLP kept widths multiples of 8, the parameter
budget met, and a model pruned in every layer saves and reloads as its plain architecture."""

import pytest
import torch
from tiny_models import VOCAB, tiny_model
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from optimum_hywia import HyWIAConfig, HyWIAPruner, count_parameters
from optimum_hywia.allocation.strategies import UNIFORM_MLP_MULTIPLE, params_budget, plan_pruning
from optimum_hywia.architectures import ATTENTION, MLP
from optimum_hywia.importance import get_importance

CALIBRATION = torch.randint(0, VOCAB, (4, 16), generator=torch.Generator().manual_seed(3))
FULL = 100  # MLP channels of the test model: not a multiple of 8


def uniform_config(ratio: float, **overrides) -> HyWIAConfig:
    return HyWIAConfig(pruning_ratio=ratio, importance="magnitude_l1", allocation="uniform", skip_first_layers=0,
                       skip_last_layers=0, **overrides)


def plan(model, config):
    context = HyWIAPruner(config).scoring_context(model, CALIBRATION, None)
    scores = get_importance(config.importance).score(context)
    return context, plan_pruning(context, scores, "uniform")


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.8])
def test_same_widths_everywhere_and_budget_met(ratio):
    model = tiny_model("llama_gqa", seed=1, intermediate_size=FULL, num_attention_heads=6, num_key_value_heads=3)
    context, kept = plan(model, uniform_config(ratio))
    for kind in (ATTENTION, MLP):
        widths = {len(kept[g.key]) for g in context.groups if g.kind == kind}
        assert len(widths) == 1, (kind, widths)
    mlp_width = len(kept[(0, MLP)])
    assert mlp_width % UNIFORM_MLP_MULTIPLE == 0 and mlp_width < FULL
    assert len(kept[(0, ATTENTION)]) == 3 - int(ratio * 3)  # never more attention removed than the ratio
    removed = sum((g.num_units - len(kept[g.key])) * g.params_per_unit for g in context.groups)
    budget = params_budget(context.groups, ratio)
    slack = UNIFORM_MLP_MULTIPLE * sum(g.params_per_unit for g in context.groups if g.kind == MLP)
    assert abs(removed - budget) <= slack / 2 + 1, (removed, budget)


def test_round_to_rounds_further_and_stays_uniform():
    model = tiny_model("llama_gqa", seed=1, intermediate_size=FULL)
    context, kept = plan(model, uniform_config(0.5, round_to=32))
    widths = {len(kept[g.key]) for g in context.groups if g.kind == MLP}
    assert len(widths) == 1 and widths.pop() % 32 == 0


def test_uniform_model_saves_as_plain_architecture(tmp_path):
    model = tiny_model("llama_gqa", seed=2, intermediate_size=FULL)
    pruner = HyWIAPruner(uniform_config(0.5))
    pruned = pruner.prune(model)
    pruner.save_pretrained(pruned, tmp_path / "plain", as_original_architecture=True)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    assert type(reloaded) is LlamaForCausalLM
    assert count_parameters(reloaded) == count_parameters(pruned)
    ids = torch.randint(0, VOCAB, (1, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, pruned(ids).logits)
