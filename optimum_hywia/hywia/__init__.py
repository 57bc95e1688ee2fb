"""HyWIA, the whole method, read top to bottom:

1. `scores`: raw fine and coarse Taylor scores per unit, normalised within each group;
2. `views`: candidate removal fractions per (layer, kind) (uniform, fine-implied density, cost-aware rankings);
3. `attention`: the granularity attention — α per unit over (fine, coarse), β per (layer, kind) over the views;
4. `train`: the attention trained end to end through soft `UnitMasks` on the frozen model;
5. `plans`: the candidate plans (allocation × selection) scored on held-out windows, the best shipped (`PlanChoice`);
6. `criterion`: the `hywia` importance criterion: the untrained plans choose where the fusion starts, the trained
   and untrained candidates which plan ships; it returns that plan's scores and removal fractions.
"""

from .attention import GranularityAttention, position_features
from .criterion import hywia, hywia_needs
from .plans import PlanCandidate, PlanChoice, choose_plan
from .scores import granularity_scores, normalise
from .train import FusionInputs, FusionResult, FusionWindows, fusion_windows, train_fusion
from .views import ALLOCATION_VIEWS, cost_aware_counts, removal_views, view_fractions

__all__ = [
    "ALLOCATION_VIEWS",
    "FusionInputs",
    "FusionResult",
    "FusionWindows",
    "PlanCandidate",
    "PlanChoice",
    "GranularityAttention",
    "choose_plan",
    "cost_aware_counts",
    "fusion_windows",
    "granularity_scores",
    "hywia",
    "hywia_needs",
    "normalise",
    "position_features",
    "removal_views",
    "train_fusion",
    "view_fractions",
]
