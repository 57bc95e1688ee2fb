"""The HyWIA fusion and the allocation strategies on tiny models."""

import pytest
import torch

from optimum_hywia import HyWIAConfig, HyWIAPruner, available_allocations
from optimum_hywia.allocation.strategies import allocate
from optimum_hywia.allocation.budget import params_budget
from optimum_hywia.hywia import ALLOCATION_VIEWS, GranularityAttention, position_features
from optimum_hywia.importance import get_importance
from optimum_hywia.hywia import granularity_scores, normalise
from optimum_hywia.hywia import plans as plans_module

from tiny_models import VOCAB

CALIBRATION = torch.randint(0, VOCAB, (12, 16), generator=torch.Generator().manual_seed(2))
BASE = dict(skip_first_layers=0, skip_last_layers=0, pruning_ratio=0.5, fusion_steps=6, fusion_eval_every=3)


def context_for(model, **overrides):
    config = HyWIAConfig(**{**BASE, "importance": "hywia", **overrides})
    return HyWIAPruner(config).scoring_context(model, CALIBRATION, None)


def ranking(scores):
    return {key: torch.argsort(value, stable=True).tolist() for key, value in scores.items()}


@pytest.mark.parametrize("alpha,reading", [(1.0, "fine"), (0.0, "coarse")])
@pytest.mark.parametrize("normalization", ["rank", "mean"])
def test_fixed_alpha_ranks_like_a_single_granularity(make_tiny_model, alpha, reading, normalization):
    context = context_for(make_tiny_model("llama_mha"), fusion="fixed", fusion_alpha=alpha,
                          score_normalization=normalization)
    fused = get_importance("hywia").score(context)
    fine, coarse = granularity_scores(context)
    assert ranking(fused) == ranking(fine if reading == "fine" else coarse)
    element1 = get_importance("element1" if reading == "fine" else "groupvec").score(context)
    assert ranking(fused) == ranking(element1)


def test_rank_normalisation_is_in_unit_interval_and_order_preserving():
    scores = torch.tensor([3.0, 0.5, 7.0, 1.0])
    ranks = normalise(scores, "rank")
    assert torch.equal(torch.argsort(ranks), torch.argsort(scores))
    assert ranks.min() > 0 and ranks.max() < 1
    assert torch.allclose(normalise(scores, "mean").mean(), torch.tensor(1.0, dtype=torch.float64))


def test_attention_weights_are_distributions():
    attention = GranularityAttention(seed=3)
    for layer in range(4):
        for kind in ("attention", "mlp"):
            query = position_features(layer, 4, kind)
            alpha = attention.unit_weights(query, torch.rand(7), torch.rand(7))
            beta = attention.allocation_weights(query, torch.tensor([0.5, 0.3, 0.7, 0.2]))
            assert (alpha >= 0).all() and torch.allclose(alpha.sum(-1), torch.ones(7))
            assert (beta >= 0).all() and torch.allclose(beta.sum(), torch.tensor(1.0))


def test_learned_fusion_reports_proper_blends_and_meets_the_budget(make_tiny_model):
    model = make_tiny_model("llama_gqa")
    pruner = HyWIAPruner(HyWIAConfig(**BASE, importance="hywia"))
    pruner.prune(model, CALIBRATION)
    blends = pruner.summary.extras["learned_blend"]
    assert set(blends) == {f"{layer}.{kind}" for layer in range(4) for kind in ("attention", "mlp")}
    for blend in blends.values():
        assert abs(blend["fine"] + blend["coarse"] - 1) < 1e-6
        allocation = [blend[f"allocation_{view}"] for view in ALLOCATION_VIEWS]
        assert min(allocation) >= 0 and abs(sum(allocation) - 1) < 1e-6
    assert model.config.hywia["allocation"] == "learned" and "learned_blend" in model.config.hywia
    kept = pruner.summary.params_after / pruner.summary.params_before
    assert 0.4 < kept < 0.75


@pytest.mark.parametrize("name", ["cost_aware", "params_global", "fine_implied", "learned"])
def test_parameter_budget_allocations_meet_their_budget(make_tiny_model, name):
    context = context_for(make_tiny_model("llama_gqa", seed=1), pruning_ratio=0.3)
    result = get_importance("hywia").run(context)
    counts = allocate(name, context, result.scores, result.removal)
    removed = sum(counts[g.key] * g.params_per_unit for g in context.groups)
    largest_unit = max(g.params_per_unit for g in context.groups)
    assert abs(removed - params_budget(context.groups, 0.3)) <= largest_unit
    assert all(counts[g.key] <= g.num_units - 1 for g in context.groups)


@pytest.mark.parametrize("name", ["layer", "global", "llm_pruner"])
def test_unit_budget_allocations_remove_the_ratio_of_units(make_tiny_model, name):
    context = context_for(make_tiny_model("llama_mha", seed=1), importance="element1", pruning_ratio=0.5)
    counts = allocate(name, context, get_importance("element1").score(context))
    for kind in ("attention", "mlp"):
        groups = [g for g in context.groups if g.kind == kind]
        assert sum(counts[g.key] for g in groups) == round(0.5 * sum(g.num_units for g in groups))


def test_every_criterion_runs_under_every_allocation(make_tiny_model):
    model = make_tiny_model("qwen2")
    context = context_for(model, importance="element1")
    for criterion in ("element1", "vector", "groupvec", "wanda_sp", "flap", "magnitude_l1", "random"):
        scores = get_importance(criterion).score(context)
        for name in set(available_allocations()) - {"learned"}:
            counts = allocate(name, context, scores)
            assert set(counts) == {g.key for g in context.groups}


def test_same_seed_gives_the_same_pruned_model(make_tiny_model):
    results = []
    for _ in range(2):
        model = make_tiny_model("llama_gqa", seed=5)
        HyWIAPruner(HyWIAConfig(**BASE, importance="hywia", seed=3)).prune(model, CALIBRATION)
        results.append(model.state_dict())
    assert results[0].keys() == results[1].keys()
    assert all(torch.equal(results[0][key], results[1][key]) for key in results[0])


def test_fusion_leaves_weights_and_flags_untouched(make_tiny_model):
    model = make_tiny_model("llama_gqa")
    before = {key: value.clone() for key, value in model.state_dict().items()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    context = context_for(model)
    get_importance("hywia").score(context)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert flags == {name: p.requires_grad for name, p in model.named_parameters()}
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_learned_allocation_needs_the_learned_fusion(make_tiny_model):
    context = context_for(make_tiny_model("llama_mha"), importance="element1")
    with pytest.raises(ValueError, match="learned"):
        allocate("learned", context, get_importance("element1").score(context))


def test_fusion_seq_len_cuts_windows_into_pieces_and_bounds_the_tokens_run(make_tiny_model, monkeypatch):
    from optimum_hywia.hywia import train as train_module

    model = make_tiny_model("llama_gqa")
    shapes = []
    monkeypatch.setattr(train_module, "_lm_loss",
                        lambda m, batch, *rest: shapes.append(tuple(batch.shape)) or m(input_ids=batch, labels=batch).loss)
    context = context_for(model, fusion_seq_len=5, fusion_batch_size=2, fusion_holdout_samples=2, fusion_steps=4)
    windows = train_module.fusion_windows(context)  # no tokenizer, so no selection windows: calibration holdout
    train, holdout = windows.train, windows.pick
    assert windows.source == "calibration_holdout"
    # 10 training windows of 16 tokens -> 30 pieces of 5 (the 1-token tails dropped); 2 held out -> 6 pieces
    assert [tuple(b.shape) for b in train] == [(2, 5)] * 15 and tuple(holdout.shape) == (6, 5)
    assert torch.equal(train[0][1], CALIBRATION[0, 5:10]) and torch.equal(holdout[0], CALIBRATION[10, :5])
    get_importance("hywia").score(context)
    assert shapes == [(2, 5)] * 4
    with pytest.raises(ValueError, match="fusion_seq_len"):
        HyWIAConfig(fusion_seq_len=1)


def test_fusion_autocast_runs_the_model_in_half_precision(make_tiny_model):
    model = make_tiny_model("llama_gqa")
    context = context_for(model, fusion_autocast="bfloat16")
    context.statistics.taylor()  # the calibration gradients stay in the model's dtype
    seen = set()
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda m, args, out: seen.add(out.dtype))
    scores = get_importance("hywia").score(context)
    assert seen == {torch.bfloat16}
    assert all(torch.isfinite(value).all() for value in scores.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(ValueError, match="fusion_autocast"):
        HyWIAConfig(fusion_autocast="float64")


@pytest.mark.parametrize("fast", [True, False])
def test_auto_autocast_is_bfloat16_only_where_the_device_has_fast_bfloat16(make_tiny_model, monkeypatch, fast):
    monkeypatch.setattr(plans_module, "fast_bfloat16", lambda device: fast)
    model = make_tiny_model("llama_gqa")
    expected = {"auto": "bfloat16" if fast else None, "float32": None, None: None, "bfloat16": "bfloat16"}
    for setting, dtype in expected.items():
        assert plans_module.autocast_dtype(context_for(model, fusion_autocast=setting)) == dtype
    assert HyWIAConfig().fusion.autocast == "auto"
    context = context_for(model)
    context.statistics.taylor()
    seen = set()
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda m, args, out: seen.add(out.dtype))
    result = get_importance("hywia").run(context)
    assert seen == {torch.bfloat16 if fast else torch.float32}
    assert result.metadata["fusion_autocast"] == expected["auto"]


@pytest.mark.parametrize("allocation", ["llm_pruner", "global", "cost_aware"])
def test_under_an_allocation_over_groups_hywia_gets_element1s_counts_and_changes_only_the_selection(
        make_tiny_model, allocation):
    model = make_tiny_model("llama_gqa")
    pruners = {name: HyWIAPruner(HyWIAConfig(**{**BASE, "importance": name, "allocation": allocation}))
               for name in ("hywia", "element1")}
    plans = {}
    for name, pruner in pruners.items():
        context = pruner.scoring_context(model, CALIBRATION, None)
        plans[name] = pruner.plan(context, pruner.score(context))
    assert {key: len(kept) for key, kept in plans["hywia"].items()} == {
        key: len(kept) for key, kept in plans["element1"].items()}


def test_the_attention_starts_on_the_given_view_and_granularity():
    query, fine, coarse = position_features(1, 4, "mlp"), torch.rand(6), torch.rand(6)
    views = torch.tensor([0.5, 0.3, 0.7, 0.2])
    for view in ALLOCATION_VIEWS:
        for granularity, column in (("fine", 0), ("coarse", 1)):
            attention = GranularityAttention(seed=0, initial_view=view, initial_granularity=granularity)
            beta = attention.allocation_weights(query, views)
            alpha = attention.unit_weights(query, fine, coarse)
            assert int(beta.argmax()) == ALLOCATION_VIEWS.index(view) and beta.max() > 0.7
            assert (alpha[:, column] > 0.7).all()
