"""End-to-end training of the granularity attention through soft masks on a frozen model.

Per step: fused unit scores I(u) = α_f(u)·fine(u) + α_c(u)·coarse(u); learned removal fraction per (layer, kind)
ρ(g) = Σ β_i(g)·view_i(g), scaled by one factor to the parameter budget; soft mask
m(u) = sigmoid((1 − ρ̂(g) − P(u)) / T), with P(u) the soft rank of u from the top of its group. Loss = calibration
LM loss (+ KL to the dense model) + λ·(param-weighted mean mask − keep ratio)². T anneals geometrically. Held-out
windows (`FusionWindows.pick`: another text than the calibration text when a tokenizer is at hand) pick the best step
by the loss of the *hard*-pruned model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..importance.base import ScoringContext
from ..importance.gradient_pass import gradient_scope, input_device
from ..surgery.masks import UnitMasks
from ..allocation.budget import GroupKey, bisect_scale, params_budget, removable
from .attention import GranularityAttention
from .plans import autocast, budget_counts, plan_loss
from .views import ALLOCATION_VIEWS, INITIAL_VIEW

REFERENCE_UNITS = 256


@dataclass
class FusionInputs:
    """Per group: normalised fine and coarse scores, candidate removal fractions and query features."""

    fine: dict[GroupKey, torch.Tensor]
    coarse: dict[GroupKey, torch.Tensor]
    views: dict[GroupKey, torch.Tensor]
    queries: dict[GroupKey, torch.Tensor]


@dataclass
class FusionWindows:
    """Training batches and the pick windows (None: no step is picked). `source`: where the pick windows come
    from, `selection_data` (a text the statistics never saw) or `calibration_holdout` (windows held out of training
    only, when no `selection_data` windows were given)."""

    train: list[torch.Tensor]
    pick: torch.Tensor | None
    source: str


@dataclass(frozen=True)
class FusionStart:
    """Where the attention starts: β on `view`, α on `granularity` (None: no preference between fine and coarse)."""

    view: str = INITIAL_VIEW
    granularity: str | None = None


@dataclass
class FusionResult:
    """The kept step's fused scores and removal fractions; `initial_loss` / `best_loss`: the pick windows' loss of
    the untrained attention's plan and of the kept step's (None without pick windows)."""

    scores: dict[GroupKey, torch.Tensor]
    removal: dict[GroupKey, float]
    blend: dict[GroupKey, dict[str, float]]
    history: list[dict] = field(default_factory=list)
    initial_loss: float | None = None
    best_loss: float | None = None


def fuse(attention: GranularityAttention, inputs: FusionInputs):
    """Fused scores, learned removal fractions and the weights that made them, for every group."""
    scores, removal, alphas, betas = {}, {}, {}, {}
    for key, query in inputs.queries.items():
        alpha = attention.unit_weights(query, inputs.fine[key], inputs.coarse[key])
        scores[key] = alpha[:, 0] * inputs.fine[key].float() + alpha[:, 1] * inputs.coarse[key].float()
        beta = attention.allocation_weights(query, inputs.views[key])
        removal[key] = (beta * inputs.views[key].float()).sum()
        alphas[key], betas[key] = alpha, beta
    return scores, removal, alphas, betas


def _removal_caps(context: ScoringContext) -> dict[GroupKey, float]:
    """The largest fraction of its units each group may lose (`min_units_per_layer` kept)."""
    return {g.key: removable(g, context.config.min_units_per_layer) / g.num_units for g in context.groups}


def _budget_scale(context: ScoringContext, removal: dict[GroupKey, torch.Tensor]) -> float:
    """The factor s with Σ_g min(s·ρ_g, cap_g)·units_g·params_g = budget (continuous, found by bisection)."""
    groups, caps = context.groups, _removal_caps(context)

    def removed(scale: float) -> float:
        return sum(min(scale * float(removal[g.key].detach()), caps[g.key]) * g.num_units * g.params_per_unit for g in groups)

    return bisect_scale(removed, params_budget(groups, context.config.pruning_ratio), iterations=50)


def _reference_units(context: ScoringContext) -> dict[GroupKey, torch.Tensor]:
    generator = torch.Generator().manual_seed(context.config.seed)
    return {
        g.key: torch.randperm(g.num_units, generator=generator)[:REFERENCE_UNITS] for g in context.groups
    }


def soft_masks(context, scores, removal, temperature: float, references) -> dict[GroupKey, torch.Tensor]:
    scale, caps = _budget_scale(context, removal), _removal_caps(context)
    masks = {}
    for group in context.groups:
        fused = scores[group.key]
        reference = fused[references[group.key]]
        soft_rank = torch.sigmoid((reference.unsqueeze(0) - fused.unsqueeze(1)) / temperature).mean(1)
        keep = 1.0 - torch.clamp(scale * removal[group.key], max=caps[group.key])
        masks[group.key] = torch.sigmoid((keep - soft_rank) / temperature)
    return masks


def _lm_loss(model, batch: torch.Tensor, dense_logits: torch.Tensor | None, kl_weight: float) -> torch.Tensor:
    output = model(input_ids=batch, labels=batch, use_cache=False)
    if dense_logits is None or kl_weight == 0:
        return output.loss
    kl = F.kl_div(F.log_softmax(output.logits, -1), F.log_softmax(dense_logits, -1), log_target=True,
                  reduction="batchmean") / batch.shape[1]
    return output.loss + kl_weight * kl


def fusion_windows(context: ScoringContext) -> FusionWindows:
    """Training batches (calibration windows cut into `fusion_seq_len`-token pieces if set) and the pick windows:
    `context.selection` when given, else the last `fusion_holdout_samples` calibration windows, held out of training."""
    config = context.config
    device = input_device(context.model)
    windows = torch.cat(context.calibration).to(device)
    if context.selection is not None:
        train, pick, source = windows, context.selection.to(device), "selection_data"
    else:
        held = min(config.fusion.holdout_samples, len(windows) - 1)
        train, pick, source = windows[: len(windows) - held], windows[len(windows) - held:], "calibration_holdout"
        pick = pick if held else None
    if config.fusion.seq_len is not None and config.fusion.seq_len < windows.shape[1]:
        train = _pieces(train, config.fusion.seq_len)
        if source == "calibration_holdout" and pick is not None:
            pick = _pieces(pick, config.fusion.seq_len)
    return FusionWindows(list(train.split(config.fusion.batch_size)), pick, source)


def _pieces(windows: torch.Tensor, length: int) -> torch.Tensor:
    """[N, L] windows as [N·⌊L/length⌋, length] consecutive pieces (a shorter tail is dropped)."""
    pieces = windows.shape[1] // length
    return windows[:, : pieces * length].reshape(-1, length)


def _temperature(step: int, steps: int, start: float, end: float) -> float:
    return start * (end / start) ** (step / max(steps - 1, 1))


def train_fusion(context: ScoringContext, inputs: FusionInputs, windows: FusionWindows,
                 start: FusionStart = FusionStart()) -> FusionResult:
    """Learn the granularity attention from `start` on `windows.train`; return the fused scores and allocation of
    the step with the lowest loss on `windows.pick` (the last step without pick windows), judged every
    `fusion_eval_every` steps from step 0 and at the last."""
    config, model = context.config, context.model
    attention = GranularityAttention(seed=config.seed, initial_view=start.view, initial_granularity=start.granularity)
    optimizer = torch.optim.Adam(attention.parameters(), lr=config.fusion.lr)
    train, holdout = windows.train, windows.pick
    references, keep_target = _reference_units(context), 1.0 - config.pruning_ratio
    weights = {g.key: g.num_units * g.params_per_unit for g in context.groups}
    total_weight = sum(weights.values())
    best, history = (float("inf"), copy.deepcopy(attention.state_dict()), -1), []
    initial_loss = None
    with gradient_scope(model, []):
        for step in tqdm(range(config.fusion.steps + 1), desc="HyWIA fusion", leave=False):
            if holdout is not None and (step % config.fusion.eval_every == 0 or step == config.fusion.steps):
                with torch.no_grad():
                    scores, removal, _, _ = fuse(attention, inputs)
                loss = plan_loss(context, scores, budget_counts(context, removal), holdout)
                history.append({"step": step, "holdout_loss": loss})
                initial_loss = loss if step == 0 else initial_loss
                if loss < best[0]:
                    best = (loss, copy.deepcopy(attention.state_dict()), step)
            if step == config.fusion.steps:
                break
            batch = train[step % len(train)]
            fusion = config.fusion
            temperature = _temperature(step, fusion.steps, fusion.temperature_start, fusion.temperature_end)
            dense_logits = None
            if config.fusion.kl_weight > 0:
                with torch.no_grad(), autocast(context):
                    dense_logits = model(input_ids=batch, use_cache=False).logits
            scores, removal, _, _ = fuse(attention, inputs)
            masks = soft_masks(context, scores, removal, temperature, references)
            with UnitMasks(context.layers, context.groups, masks), autocast(context):
                loss = _lm_loss(model, batch, dense_logits, config.fusion.kl_weight)
            kept = sum(masks[key].mean() * weights[key] for key in masks) / total_weight
            loss = loss + config.fusion.budget_penalty * (kept - keep_target) ** 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history.append({"step": step, "train_loss": float(loss.detach()), "temperature": temperature})
    if holdout is not None:
        attention.load_state_dict(best[1])
    with torch.no_grad():
        scores, removal, alphas, betas = fuse(attention, inputs)
    blend = {
        key: {"fine": float(alphas[key][:, 0].mean()), "coarse": float(alphas[key][:, 1].mean()),
              **{f"allocation_{name}": float(b) for name, b in zip(ALLOCATION_VIEWS, betas[key])}}
        for key in scores
    }
    history.append({"best_step": best[2]})
    return FusionResult({k: v.double() for k, v in scores.items()}, {k: float(v) for k, v in removal.items()},
                        blend, history, initial_loss, best[0] if holdout is not None else None)
