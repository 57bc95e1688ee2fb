"""The HyWIA fusion: a granularity attention learned end to end through soft masks on a frozen model."""

from .attention import ALLOCATION_VIEWS, GranularityAttention, position_features
from .masks import unit_output_masks
from .train import FusionInputs, FusionResult, train_fusion

__all__ = [
    "ALLOCATION_VIEWS",
    "FusionInputs",
    "FusionResult",
    "GranularityAttention",
    "position_features",
    "train_fusion",
    "unit_output_masks",
]
