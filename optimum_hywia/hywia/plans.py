"""HyWIA's plan pick: the candidate plans (allocation × selection) scored on held-out windows, the best shipped.

A plan is how many units each group loses (an allocation: the learned one or one of its views, scaled to the budget
as the `learned` allocation does) and which ones (a selection: the fine scores, the coarse scores or the learned
blend). Each candidate is scored by the mean LM loss of the hard-masked model on the pick windows (`selection_data`),
in no-grad forward passes of a few windows each; the lowest wins, unless the learned plan is within `PICK_MARGIN` of
it (then the learned plan ships: a difference that small is float noise, which would make the choice differ
between, e.g., one process and a distributed run). So the fusion never ships a plan clearly worse, on those
windows, than one of its own inputs.

The candidates (`plan_pairs`), four forward passes besides the two fusion steps judged on the same windows: before
training, the cost-aware ranking by fine score (`PICK_VIEWS`) under each granularity, the best of which is where the
fusion starts; after training, the learned allocation under the blend and under that starting granularity, and the
view under the blend. The other views and pairs never won the pick on SmolLM2 or Gemma 3 270M (every row of
`docs/results/criteria*_hywia_rows.jsonl` at the earlier, wider pick); each would cost one more forward pass.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from ..hardware import fast_bfloat16
from ..importance.base import ScoringContext
from ..importance.gradient_pass import input_device, windows_per_chunk
from ..importance.units import Scores
from ..surgery.masks import UnitMasks, keep_mask
from ..allocation.budget import GroupKey, Removal, fractions_to_counts, select_kept_units

Counts = dict[GroupKey, int]  # units removed per group

LEARNED, BLEND = "learned", "blend"
PICK_VIEWS = ("fine_units",)  # views (of `ALLOCATION_VIEWS`) that are candidate plans
GRANULARITIES = ("fine", "coarse")  # the selections that need no training: the fusion's possible starts
SELECTIONS = (*GRANULARITIES, BLEND)
PICK_MARGIN = 1e-3  # relative: another candidate must beat the learned plan's loss by more than this to replace it


@dataclass(frozen=True)
class PlanCandidate:
    """One candidate plan and its mean LM loss on the pick windows."""

    allocation: str  # "learned" or a view of `ALLOCATION_VIEWS`
    selection: str  # one of `SELECTIONS`: "fine", "coarse" or "blend"
    loss: float


@dataclass(frozen=True)
class PlanChoice:
    """Which plan HyWIA shipped and what every candidate scored.

    Example:
        >>> learned = PlanCandidate("learned", "blend", 3.2)
        >>> choice = PlanChoice(PlanCandidate("fine_units", "fine", 3.1), (learned,), "selection_data")
        >>> choice.as_dict()["chosen"]
        {'allocation': 'fine_units', 'selection': 'fine', 'loss': 3.1}
    """

    chosen: PlanCandidate
    candidates: tuple[PlanCandidate, ...]
    windows: str  # "selection_data" (another text) or "calibration_holdout" (no tokenizer to read it)

    def as_dict(self) -> dict:
        """JSON-ready, for the summary and the pruned model's `hywia` block."""
        return {"chosen": asdict(self.chosen), "candidates": [asdict(c) for c in self.candidates],
                "windows": self.windows}


def autocast_dtype(context: ScoringContext) -> str | None:
    """The dtype the fusion and the pick run in under `config.fusion.autocast` on this model's device (None: the
    model's own)."""
    setting = context.config.fusion.autocast
    if setting == "auto":
        return "bfloat16" if fast_bfloat16(input_device(context.model)) else None
    return None if setting in (None, "float32") else setting


def autocast(context: ScoringContext):
    """torch.autocast in `autocast_dtype(context)` on the model's device (a no-op context when there is none)."""
    dtype = autocast_dtype(context)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=input_device(context.model).type, dtype=getattr(torch, dtype))


def budget_counts(context: ScoringContext, removal: Removal) -> Counts:
    """Units removed per group when `removal` fractions are scaled to the budget (the `learned` allocation's rule)."""
    config = context.config
    fractions = {key: float(value) for key, value in removal.items()}
    return fractions_to_counts(context.groups, fractions, config.pruning_ratio, config.min_units_per_layer)


def plan_loss(context: ScoringContext, scores: Scores, counts: Counts, windows: torch.Tensor) -> float:
    """Mean token loss of the model with `counts` units of each group removed (the lowest by `scores`) masked out,
    on `windows` (equal lengths), a few windows per forward pass so their logits stay small."""
    masks = {
        group.key: keep_mask(group, select_kept_units(group, scores[group.key].detach(), counts[group.key]))
        for group in context.groups
    }
    model, total = context.model, 0.0
    with torch.no_grad(), UnitMasks(context.layers, context.groups, masks), autocast(context):
        for piece in windows.split(windows_per_chunk(model, windows.shape[1])):
            total += float(model(input_ids=piece, labels=piece, use_cache=False).loss) * len(piece)
    return total / len(windows)


def untrained_pairs() -> list[tuple[str, str]]:
    """The plans scored before training: each view of `PICK_VIEWS` under each granularity."""
    return [(view, granularity) for view in PICK_VIEWS for granularity in GRANULARITIES]


def plan_pairs(start_granularity: str | None) -> list[tuple[str, str]]:
    """Every candidate plan (allocation, selection): the untrained ones, the learned allocation under the blend and
    under the granularity the fusion started from (both, without one), each view under the blend."""
    granularities = GRANULARITIES if start_granularity is None else (start_granularity,)
    learned = [(LEARNED, BLEND), *((LEARNED, granularity) for granularity in granularities)]
    return [*learned, *untrained_pairs(), *((view, BLEND) for view in PICK_VIEWS)]


def score_plans(context: ScoringContext, selections: dict[str, Scores], allocations: dict[str, Counts],
                windows: torch.Tensor, pairs: list[tuple[str, str]],
                known: dict[tuple[str, str], float] | None = None) -> list[PlanCandidate]:
    """Each (allocation, selection) of `pairs` scored on `windows` (pairs in `known` are not measured again);
    `allocations`: the units each group loses under each allocation named in `pairs`."""
    known = known or {}
    candidates = []
    for allocation, selection in tqdm(pairs, desc="HyWIA plan pick", leave=False):
        loss = known.get((allocation, selection))
        if loss is None:
            loss = plan_loss(context, selections[selection], allocations[allocation], windows)
        candidates.append(PlanCandidate(allocation, selection, loss))
    return candidates


def choose_plan(
    context: ScoringContext,
    selections: dict[str, Scores],
    allocations: dict[str, Counts],
    windows: torch.Tensor,
    source: str,
    pairs: list[tuple[str, str]],
    learned_loss: float | None = None,
    known: dict[tuple[str, str], float] | None = None,
) -> PlanChoice:
    """Score each (allocation, selection) of `pairs` on `windows` and return the choice: the lowest loss, except
    that the learned plan, when a candidate, stays unless another beats it by more than `PICK_MARGIN`;
    `learned_loss`: the learned plan's loss when already measured on these windows, `known`: other candidates'
    losses already measured on them."""
    known = dict(known or {})
    if learned_loss is not None:
        known[(LEARNED, BLEND)] = learned_loss
    candidates = score_plans(context, selections, allocations, windows, pairs, known)
    candidates.sort(key=lambda candidate: (candidate.allocation, candidate.selection) != (LEARNED, BLEND))
    best, first = min(candidates, key=lambda candidate: candidate.loss), candidates[0]
    learned = first if (first.allocation, first.selection) == (LEARNED, BLEND) else None
    chosen = learned if learned is not None and learned.loss <= best.loss * (1 + PICK_MARGIN) else best
    return PlanChoice(chosen, tuple(candidates), source)
