"""`hywia`: fine- and coarse-grained Taylor scores fused by a learned granularity attention (or a fixed α).

With `fusion="attention"` the criterion also learns how much each (layer, kind) loses: its `ImportanceResult`
carries that `removal`, which the `learned` allocation scales to the budget, and the learned blend in `report`.
"""

from __future__ import annotations

from ..importance.base import ImportanceResult, ScoringContext
from ..importance.registry import register_importance
from ..importance.statistics import Need
from .attention import position_features
from .scores import granularity_scores, normalise
from .train import FusionInputs, train_fusion
from .views import removal_views


def hywia_needs(config) -> set[Need]:
    """First- or second-order Taylor statistics; the learned fusion also trains on the calibration windows."""
    taylor = Need.TAYLOR2 if config.taylor_order == 2 else Need.TAYLOR
    return {taylor, Need.WINDOWS} if config.fusion == "attention" else {taylor}


@register_importance("hywia", needs=hywia_needs, gives_removal=lambda config: config.fusion == "attention")
def hywia(context: ScoringContext) -> ImportanceResult:
    """HyWIA: per-unit blend of normalised fine and coarse Taylor scores (learned or fixed α); the learned
    fusion also gives a per-(layer, kind) removal fraction for the `learned` allocation."""
    config = context.config
    raw_fine, coarse = granularity_scores(context)
    fine = {key: normalise(value, config.score_normalization) for key, value in raw_fine.items()}
    coarse_normalised = {key: normalise(value, config.score_normalization) for key, value in coarse.items()}
    if config.fusion == "fixed":
        alpha = config.fusion_alpha
        return ImportanceResult({key: alpha * fine[key] + (1 - alpha) * coarse_normalised[key] for key in fine})
    num_layers = len(context.layers)
    inputs = FusionInputs(
        fine=fine,
        coarse=coarse_normalised,
        views=removal_views(context, raw_fine, coarse),
        queries={g.key: position_features(g.layer, num_layers, g.kind) for g in context.groups},
    )
    result = train_fusion(context, inputs)
    blend = {f"{layer}.{kind}": values for (layer, kind), values in result.blend.items()}
    return ImportanceResult(
        result.scores,
        removal=result.removal,
        report={"learned_blend": blend, "fusion_history": result.history},
        metadata={"learned_blend": blend},
    )
