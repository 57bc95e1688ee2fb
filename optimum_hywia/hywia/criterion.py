"""`hywia`: fine- and coarse-grained Taylor scores fused by a learned granularity attention (or a fixed α).

With `fusion="attention"` the criterion also learns how much each (layer, kind) loses: its `ImportanceResult`
carries that `removal`, which the `learned` allocation scales to the budget, and the learned blend in `report`.
With `choose_plan` (default) the pick windows (`selection_data`) first score each candidate view (`PICK_VIEWS`) ×
granularity (fine, coarse); the fusion starts from the best of them (`FusionStart`), and the plan shipped is the best
on the same windows of the candidate plans (`plans.plan_pairs`: these, the learned allocation under the learned blend
and under the starting granularity, the views under the blend): `plans.choose_plan`, recorded as `plan_choice`.
Under an `allocation` other than `learned`, the candidates are that allocation (its counts from the raw fine scores,
`budget_scores`, as it will apply them) under each selection, and the best selection ships.
"""

from __future__ import annotations

from dataclasses import asdict

from ..allocation.strategies import allocate
from ..importance.base import ImportanceResult, ScoringContext
from ..importance.registry import register_importance
from ..importance.statistics import Need
from .attention import position_features
from ..importance.units import Scores
from .plans import (BLEND, LEARNED, PICK_VIEWS, SELECTIONS, Counts, PlanCandidate, PlanChoice, autocast_dtype,
                    budget_counts, choose_plan, plan_pairs, score_plans, untrained_pairs)
from .scores import granularity_scores, normalise
from .train import FusionInputs, FusionResult, FusionStart, FusionWindows, fusion_windows, train_fusion
from .views import Removal, removal_views, view_fractions


def hywia_needs(config) -> set[Need]:
    """First- or second-order Taylor statistics; the learned fusion also trains on the calibration windows and
    picks its step and plan on windows of `selection_data`."""
    taylor = Need.TAYLOR2 if config.taylor_order == 2 else Need.TAYLOR
    return {taylor, Need.WINDOWS, Need.SELECTION} if config.fusion.mode == "attention" else {taylor}


def _view_counts(context: ScoringContext, views: dict[str, Removal]) -> dict[str, Counts]:
    return {name: budget_counts(context, views[name]) for name in PICK_VIEWS}


def _score_views(context: ScoringContext, inputs: FusionInputs, views: dict[str, Removal],
                 windows: FusionWindows) -> list[PlanCandidate]:
    """Every candidate view × granularity on the pick windows: the plans that need no training."""
    selections = {"fine": inputs.fine, "coarse": inputs.coarse}
    return score_plans(context, selections, _view_counts(context, views), windows.pick, untrained_pairs())


def _pick(context: ScoringContext, inputs: FusionInputs, budget_scores: Scores, views: dict[str, Removal],
          result: FusionResult, windows: FusionWindows, untrained: list[PlanCandidate],
          start: FusionStart) -> PlanChoice:
    """The learned allocation's candidates (`plan_pairs`); under another configured allocation, that allocation's
    counts (from `budget_scores`, the raw fine scores, as it will apply them) under each selection, so the selection
    shipped is the best one for the allocation that will use it."""
    selections = {"fine": inputs.fine, "coarse": inputs.coarse, BLEND: result.scores}
    allocation = context.config.resolved_allocation
    if allocation != LEARNED:
        counts = allocate(allocation, context, budget_scores, None)
        pairs = [(allocation, selection) for selection in SELECTIONS]
        return choose_plan(context, selections, {allocation: counts}, windows.pick, windows.source, pairs)
    allocations = {LEARNED: budget_counts(context, result.removal), **_view_counts(context, views)}
    known = {(c.allocation, c.selection): c.loss for c in untrained}
    return choose_plan(context, selections, allocations, windows.pick, windows.source, plan_pairs(start.granularity),
                       result.best_loss, known)


def _as_double(scores: Scores) -> Scores:
    return {key: value.double() for key, value in scores.items()}


@register_importance("hywia", needs=hywia_needs, gives_removal=lambda config: config.fusion.mode == "attention")
def hywia(context: ScoringContext) -> ImportanceResult:
    """HyWIA: per-unit blend of normalised fine and coarse Taylor scores (learned or fixed α); the learned
    fusion also gives a per-(layer, kind) removal fraction for the `learned` allocation."""
    config = context.config
    raw_fine, coarse = granularity_scores(context)
    fine = {key: normalise(value, config.score_normalization) for key, value in raw_fine.items()}
    coarse_normalised = {key: normalise(value, config.score_normalization) for key, value in coarse.items()}
    if config.fusion.mode == "fixed":
        alpha = config.fusion.alpha
        return ImportanceResult({key: alpha * fine[key] + (1 - alpha) * coarse_normalised[key] for key in fine})
    num_layers = len(context.layers)
    views = view_fractions(context, raw_fine, coarse)
    inputs = FusionInputs(
        fine=fine,
        coarse=coarse_normalised,
        views=removal_views(views),
        queries={g.key: position_features(g.layer, num_layers, g.kind) for g in context.groups},
    )
    windows = fusion_windows(context)
    picking = config.fusion.choose_plan and windows.pick is not None
    untrained = _score_views(context, inputs, views, windows) if picking else []
    start = FusionStart()
    if untrained:
        best = min(untrained, key=lambda candidate: candidate.loss)
        start = FusionStart(best.allocation, best.selection)
    result = train_fusion(context, inputs, windows, start)
    blend = {f"{layer}.{kind}": values for (layer, kind), values in result.blend.items()}
    dtype = autocast_dtype(context)
    report = {"learned_blend": blend, "fusion_history": result.history, "fusion_autocast": dtype}
    metadata = {"learned_blend": blend, "fusion_autocast": dtype}
    # The fused scores are normalised within each group: across groups (other allocations) the raw fine scores rank.
    budget_scores = _as_double(raw_fine)
    scores, removal = result.scores, result.removal
    if picking:
        choice = _pick(context, inputs, budget_scores, views, result, windows, untrained, start)
        chosen = choice.chosen
        scores = {"fine": fine, "coarse": coarse_normalised, BLEND: result.scores}[chosen.selection]
        removal = views[chosen.allocation] if chosen.allocation in PICK_VIEWS else result.removal
        report["plan_choice"] = metadata["plan_choice"] = choice.as_dict()
        report["fusion_start"] = metadata["fusion_start"] = asdict(start)
    return ImportanceResult(_as_double(scores), removal=removal, report=report, metadata=metadata,
                            budget_scores=budget_scores)
