"""Cutting and masking units: rows and columns removed in place (`cut`), or zeroed while training (`masks`)."""

from .cut import apply_plan, kept_positions, prune_group
from .masks import RemovedWeights, UnitMasks, keep_mask

__all__ = ["RemovedWeights", "UnitMasks", "apply_plan", "keep_mask", "kept_positions", "prune_group"]
