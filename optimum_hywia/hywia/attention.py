"""The granularity attention: per unit, how much the fine- and coarse-grained scores count; per layer and unit
kind, how much each candidate allocation counts."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..architectures import UNIT_KINDS
from .views import ALLOCATION_VIEWS, INITIAL_VIEW

FINE, COARSE = 0, 1
GRANULARITY_INDEX = {"fine": FINE, "coarse": COARSE}
INITIAL_VIEW_LOGIT = 3.0  # β starts at ≈ 0.85 on the initial view: few steps then suffice
INITIAL_GRANULARITY_LOGIT = 2.0  # α starts at ≈ 0.88 on the initial granularity, when one is given


def position_features(layer: int, num_layers: int, kind: str) -> torch.Tensor:
    """Query features of a (layer, kind): smooth encodings of depth, the unit kind, and a constant."""
    depth = math.pi * (layer + 0.5) / num_layers
    kind_onehot = [1.0 if kind == k else 0.0 for k in UNIT_KINDS]
    return torch.tensor(
        [math.sin(depth), math.cos(depth), math.sin(2 * depth), math.cos(2 * depth), *kind_onehot, 1.0],
        dtype=torch.float32,
    )


class GranularityAttention(nn.Module):
    """Scaled dot-product attention over granularity tokens, with a query from layer position and unit kind.

    Selection: each unit has two tokens, its normalised fine score and its normalised coarse score (with a
    granularity embedding); softmax gives α(u) = (α_fine, α_coarse), its logits offset by a learned bias that starts
    at `initial_granularity` ("fine" or "coarse"; None: no preference). Allocation: each (layer, kind) has one token
    per candidate removal fraction (`ALLOCATION_VIEWS`); softmax gives β, its logits offset by a learned bias that
    starts at `initial_view` (default: the cost-aware ranking by fine score). A few hundred numbers.

    Example:
        >>> attention = GranularityAttention(dim=8, seed=0)
        >>> query = position_features(3, 30, "mlp")
        >>> alpha = attention.unit_weights(query, torch.rand(5), torch.rand(5))
        >>> alpha.shape, bool(torch.allclose(alpha.sum(-1), torch.ones(5)))
        (torch.Size([5, 2]), True)
    """

    def __init__(self, dim: int = 8, seed: int = 0, initial_view: str = INITIAL_VIEW,
                 initial_granularity: str | None = None):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        query_features = 4 + len(UNIT_KINDS) + 1

        def weight(rows: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(rows, dim, generator=generator) / math.sqrt(rows))

        self.dim = dim
        self.unit_query = weight(query_features)
        self.unit_key = weight(3)  # [score, is_fine, is_coarse]
        self.allocation_query = weight(query_features)
        self.allocation_key = weight(1 + len(ALLOCATION_VIEWS))  # [fraction, one-hot view]
        prior = torch.zeros(len(ALLOCATION_VIEWS))
        prior[ALLOCATION_VIEWS.index(initial_view)] = INITIAL_VIEW_LOGIT
        self.allocation_bias = nn.Parameter(prior)
        granularity = torch.zeros(2)
        if initial_granularity is not None:
            granularity[GRANULARITY_INDEX[initial_granularity]] = INITIAL_GRANULARITY_LOGIT
        self.granularity_bias = nn.Parameter(granularity)

    def unit_weights(self, query_features: torch.Tensor, fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """α for each unit: [num_units, 2] (fine, coarse), rows summing to 1."""
        query = query_features @ self.unit_query
        ones, zeros = torch.ones_like(fine), torch.zeros_like(fine)
        tokens = torch.stack([torch.stack([fine, ones, zeros], -1), torch.stack([coarse, zeros, ones], -1)], 1)
        logits = (tokens.float() @ self.unit_key) @ query / math.sqrt(self.dim) + self.granularity_bias
        return torch.softmax(logits, dim=-1)

    def allocation_weights(self, query_features: torch.Tensor, removal_views: torch.Tensor) -> torch.Tensor:
        """β over the candidate removal fractions of one (layer, kind): [len(ALLOCATION_VIEWS)]."""
        query = query_features @ self.allocation_query
        tokens = torch.cat([removal_views.float().unsqueeze(-1), torch.eye(len(ALLOCATION_VIEWS))], -1)
        logits = (tokens @ self.allocation_key) @ query / math.sqrt(self.dim) + self.allocation_bias
        return torch.softmax(logits, dim=-1)
