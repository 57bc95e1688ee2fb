"""HyWIA's held-out windows (another text than the calibration text, never used for statistics or training) and
its plan pick over allocation × selection, on tiny models."""

import pytest
import torch

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.hywia import plans as plans_module
from optimum_hywia.hywia import train as train_module
from optimum_hywia.importance import get_importance

from tiny_models import tiny_tokenizer

SETTINGS = dict(importance="hywia", skip_first_layers=0, skip_last_layers=0, pruning_ratio=0.5, fusion_steps=4,
                fusion_eval_every=2, num_calibration_samples=8, calibration_seq_len=16, selection_samples=3)


def rows(windows: torch.Tensor) -> set[tuple[int, ...]]:
    return set(map(tuple, windows.tolist()))


def test_pick_windows_come_from_another_text_and_never_feed_statistics_or_training(make_tiny_model, monkeypatch):
    model, tokenizer = make_tiny_model("llama_gqa"), tiny_tokenizer()
    context = HyWIAPruner(HyWIAConfig(**SETTINGS)).scoring_context(model, None, tokenizer)
    calibration, pick = torch.cat(context.calibration), context.selection
    assert calibration.shape == (8, 16) and pick.shape == (3, 16)
    assert len(rows(calibration)) == 8 and len(rows(pick)) == 3  # no window drawn twice
    assert not rows(calibration) & rows(pick)
    seen_statistics, trained, judged = [], [], []
    # the decoder sees every window the statistics read (the streamed pass runs it without the model's own head)
    hook = model.model.register_forward_pre_hook(
        lambda m, args, kwargs: seen_statistics.append(kwargs["input_ids"]), with_kwargs=True)
    context.statistics.taylor()
    hook.remove()
    assert rows(torch.cat(seen_statistics)) == rows(calibration)
    lm_loss, plan_loss = train_module._lm_loss, plans_module.plan_loss
    monkeypatch.setattr(train_module, "_lm_loss",
                        lambda m, batch, *rest: trained.append(batch) or lm_loss(m, batch, *rest))
    spy = lambda c, s, r, windows: judged.append(windows) or plan_loss(c, s, r, windows)  # noqa: E731
    monkeypatch.setattr(train_module, "plan_loss", spy)
    monkeypatch.setattr(plans_module, "plan_loss", spy)
    result = get_importance("hywia").run(context)
    assert trained and rows(torch.cat(trained)) <= rows(calibration)
    assert judged and all(torch.equal(windows, pick) for windows in judged)
    assert result.metadata["plan_choice"]["windows"] == "selection_data"


def test_the_shipped_plan_is_the_best_candidate_and_scores_what_was_cut(make_tiny_model):
    model, tokenizer = make_tiny_model("llama_mha"), tiny_tokenizer()
    pruner = HyWIAPruner(HyWIAConfig(**SETTINGS))
    context = pruner.scoring_context(model, None, tokenizer)
    result = pruner.score(context)
    choice = result.metadata["plan_choice"]
    candidates = choice["candidates"]
    start = result.metadata["fusion_start"]
    assert [(c["allocation"], c["selection"]) for c in candidates] == [
        ("learned", "blend"), ("learned", start["granularity"]), ("fine_units", "fine"), ("fine_units", "coarse"),
        ("fine_units", "blend")]
    untrained = [c for c in candidates if c["allocation"] != "learned" and c["selection"] != "blend"]
    assert (start["view"], start["granularity"]) == min(
        ((c["allocation"], c["selection"]) for c in untrained), key=lambda pair: next(
            c["loss"] for c in untrained if (c["allocation"], c["selection"]) == pair))
    best = min(c["loss"] for c in candidates)
    learned = next(c for c in candidates if (c["allocation"], c["selection"]) == ("learned", "blend"))
    assert choice["chosen"]["loss"] == best or (choice["chosen"] == learned and learned["loss"] <= best * (1 + 1e-3))
    pick = context.selection
    pruner.apply(model, context, result)
    with torch.no_grad():
        shipped = float(model(input_ids=pick, labels=pick).loss)
    assert shipped == pytest.approx(choice["chosen"]["loss"], rel=1e-4)
    assert model.config.hywia["plan_choice"] == choice and pruner.summary.extras["plan_choice"] == choice
    chosen = choice["chosen"]
    line = f"allocation {chosen['allocation']}, selection {chosen['selection']}: {chosen['loss']:.4f} <- shipped"
    assert line in str(pruner.summary)


def test_the_learned_plan_is_kept_unless_another_clearly_beats_it(make_tiny_model, monkeypatch):
    model = make_tiny_model("llama_gqa")
    context = HyWIAPruner(HyWIAConfig(**SETTINGS)).scoring_context(model, torch.zeros(8, 16, dtype=torch.long), None)
    losses = {"fine": 3.0, "blend": 2.0}
    monkeypatch.setattr(plans_module, "plan_loss", lambda c, scores, removal, windows: losses[scores])
    selections, allocations, windows = {"fine": "fine", "blend": "blend"}, {"learned": {}, "fine_units": {}}, None
    pairs = [(allocation, selection) for allocation in allocations for selection in selections]
    near = plans_module.choose_plan(context, selections, allocations, windows, "selection_data", pairs,
                                    learned_loss=2.001)
    assert near.chosen.allocation == "learned" and near.chosen.loss == 2.001
    clear = plans_module.choose_plan(context, selections, allocations, windows, "selection_data", pairs,
                                     learned_loss=2.1)
    assert (clear.chosen.allocation, clear.chosen.selection, clear.chosen.loss) == ("fine_units", "blend", 2.0)
    assert [(c.allocation, c.selection) for c in clear.candidates][0] == ("learned", "blend")


def test_the_pick_costs_six_forward_passes(make_tiny_model, monkeypatch):
    model, tokenizer = make_tiny_model("llama_gqa"), tiny_tokenizer()
    pruner = HyWIAPruner(HyWIAConfig(**{**SETTINGS, "fusion_eval_every": 4}))
    context = pruner.scoring_context(model, None, tokenizer)
    judged, plan_loss = [], plans_module.plan_loss
    spy = lambda c, s, r, windows: judged.append(windows) or plan_loss(c, s, r, windows)  # noqa: E731
    monkeypatch.setattr(train_module, "plan_loss", spy)
    monkeypatch.setattr(plans_module, "plan_loss", spy)
    result = pruner.score(context)
    steps = [entry["step"] for entry in result.report["fusion_history"] if "holdout_loss" in entry]
    candidates = result.metadata["plan_choice"]["candidates"]
    assert steps == [0, 4] and len(candidates) == 5 and len(judged) == 6  # 2 untrained, 2 fusion steps, 2 after


@pytest.mark.parametrize("allocation", ["llm_pruner", "cost_aware"])
def test_under_another_allocation_the_pick_chooses_the_selection_for_it(make_tiny_model, allocation):
    model, tokenizer = make_tiny_model("llama_gqa"), tiny_tokenizer()
    pruner = HyWIAPruner(HyWIAConfig(**SETTINGS, allocation=allocation))
    context = pruner.scoring_context(model, None, tokenizer)
    result = pruner.score(context)
    choice = result.metadata["plan_choice"]
    candidates = {c["selection"]: c["loss"] for c in choice["candidates"]}
    assert [c["allocation"] for c in choice["candidates"]] == [allocation] * 3 and set(candidates) == {
        "fine", "coarse", "blend"}
    assert choice["chosen"]["loss"] == min(candidates.values())  # never above element-wise selection ("fine")
    pick = context.selection
    pruner.apply(model, context, result)
    with torch.no_grad():
        shipped = float(model(input_ids=pick, labels=pick).loss)
    assert shipped == pytest.approx(choice["chosen"]["loss"], rel=1e-4)


def test_without_the_pick_the_learned_plan_ships(make_tiny_model):
    model, tokenizer = make_tiny_model("llama_gqa"), tiny_tokenizer()
    pruner = HyWIAPruner(HyWIAConfig(**SETTINGS, choose_plan=False))
    result = pruner.score(pruner.scoring_context(model, None, tokenizer))
    assert "plan_choice" not in result.metadata and set(result.report) == {"learned_blend", "fusion_history",
                                                                            "fusion_autocast"}


def test_masked_candidates_are_scored_without_changing_the_model(make_tiny_model):
    model, tokenizer = make_tiny_model("llama_gqa"), tiny_tokenizer()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    pruner = HyWIAPruner(HyWIAConfig(**SETTINGS))
    pruner.score(pruner.scoring_context(model, None, tokenizer))
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())
    assert not any(module._forward_pre_hooks or module._forward_hooks for module in model.modules())


def test_the_card_shows_every_candidate_plan_with_its_loss_and_the_one_shipped():
    from optimum_hywia.hub.card import build_model_card
    from optimum_hywia.hub.facts import PruningFacts

    chosen = {"allocation": "fine_units", "selection": "fine", "loss": 3.1}
    learned = {"allocation": "learned", "selection": "blend", "loss": 3.2}
    facts = PruningFacts(family="llama", layer_widths=[{"intermediate_size": 8}], dense_widths=None,
                         pruned_layers=[0], params_before=10, params_after=8, method={"importance": "hywia"},
                         base_model=None, base_model_source=None, original_architecture=False,
                         plan_choice={"chosen": chosen, "candidates": [learned, chosen], "windows": "selection_data"})
    text = build_model_card(facts, "me/pruned").text
    assert "## How HyWIA chose this plan" in text
    assert text.index("| fine_units | fine | 3.1000 | **shipped** |") < text.index("| learned | blend | 3.2000 |  |")
