"""The memory-lean first-order pass: one backward pass over the whole calibration set, each gradient reduced at once.

The calibration windows go through the model as one batch, with every decoder layer checkpointed (only its input
is kept) and the output head applied a few windows at a time inside a checkpoint too (its logits are recomputed in
the backward pass, never held for the whole set). Each window's token losses are weighted 1/(|batch|·(L−1)), so
the total is Σ_batches (mean token loss of the batch): the same objective as the buffered pass, and so the same
gradient g up to float rounding. Because every weight is used once, autograd produces its gradient once, final: a
post-accumulate-grad hook hands it on, and as soon as the last member weight of a group has its gradient, the group
is reduced to its `TaylorStatistics` (`reduction.reduce_group`) and the gradients are released.

Memory besides the weights: the decoder layers' inputs for the calibration set (N·L·hidden values per layer), the
activations of one layer being recomputed, the gradients of about one layer (in the weights' dtype) and the float32
temporaries of one member's reduction. No per-weight buffer outlives its layer.

Used by `gradients.taylor_statistics` for first-order statistics when `config.memory.statistics_pass == "streamed"` (the
default), the model can checkpoint its layers, the batches all have one length and no other pass (`accumulate`,
e.g. sharded over ranks) is given; a model whose output head this pass cannot reproduce (`head_reproduces_logits`)
is scored by the buffered pass.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from tqdm.auto import tqdm

from ..architectures import UnitGroup
from ..finite import check_gradient
from ..architectures.base import GroupKey
from .gradient_pass import (
    activation_checkpointing,
    gradient_scope,
    input_device,
    member_parameters,
    supports_activation_checkpointing,
    windows_per_chunk,
)
from .reduction import TaylorStatistics, group_generator, reduce_group

if TYPE_CHECKING:
    from .base import ScoringContext

logger = logging.getLogger(__name__)


def head_logits(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The model's logits from its base model's last hidden state (output head, then Granite's `logits_scaling`
    divisor or Gemma's final soft-capping where the config has one)."""
    logits = model.get_output_embeddings()(hidden)
    scaling = getattr(model.config, "logits_scaling", None)
    if scaling:
        logits = logits / scaling
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def last_hidden_state(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    return model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state


HiddenOf = Callable[[nn.Module, torch.Tensor], torch.Tensor]  # (model, input ids) -> the last hidden state


def head_reproduces_logits(model: nn.Module, window: torch.Tensor, hidden_of: HiddenOf = last_hidden_state) -> bool:
    """Whether `head_logits(hidden_of(model, window))` gives the model's own logits on `window` [1, L] (no-grad
    passes)."""
    if model.get_output_embeddings() is None or getattr(model, "base_model", model) is model:
        return False
    with torch.no_grad():
        expected = model(input_ids=window, use_cache=False).logits.float()
        found = head_logits(model, hidden_of(model, window)).float()
    tolerance = 1e-3 * float(expected.abs().max()) + 1e-5
    return found.shape == expected.shape and bool((found - expected).abs().max() <= tolerance)


def can_stream(context: ScoringContext, hidden_of: HiddenOf = last_hidden_state) -> bool:
    """Whether the streamed pass applies to `context` (module docstring), its last hidden state taken by
    `hidden_of`; logs why not when the config asked for it."""
    if context.config.memory.statistics_pass != "streamed" or not context.calibration:
        return False
    if len({batch.shape[1] for batch in context.calibration}) != 1:
        logger.info("Calibration batches of several lengths: the Taylor statistics use the buffered pass.")
        return False
    if not supports_activation_checkpointing(context.model):
        logger.info("%s cannot checkpoint its layers: the Taylor statistics use the buffered pass.",
                    type(context.model).__name__)
        return False
    window = context.calibration[0][:1].to(input_device(context.model))
    if not head_reproduces_logits(context.model, window, hidden_of):
        logger.warning(
            "%s: its logits are not its output head applied to its base model's hidden state, so the Taylor "
            "statistics use the buffered pass (`statistics_pass='buffered'`, more memory).", type(context.model).__name__
        )
        return False
    return True


class GroupReducer:
    """Post-accumulate-grad hooks that reduce each group the moment its last member gradient arrives.

    `full_gradient` turns what a hook receives into the parameter's whole gradient g (default: as it is; an FSDP2
    shard of the ranks' mean is gathered and scaled by the world size, `sharded.py`)."""

    def __init__(self, context: ScoringContext, groups: list[UnitGroup],
                 full_gradient: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.context = context
        self.full_gradient = full_gradient or (lambda gradient: gradient)
        self.names = {id(p): name for name, p in context.model.named_parameters()}
        self.members = {group.key: member_parameters(context, [group]) for group in groups}
        self.groups = {group.key: group for group in groups}
        self.waiting = {key: {id(p) for p in params} for key, params in self.members.items()}
        self.users = Counter(id(p) for params in self.members.values() for p in params)
        self.groups_of: dict[int, list[GroupKey]] = {}
        for key, params in self.members.items():
            for p in params:
                self.groups_of.setdefault(id(p), []).append(key)
        self.gradients: dict[int, torch.Tensor] = {}
        self.statistics: dict[GroupKey, TaylorStatistics] = {}

    def _hook(self, param: nn.Parameter) -> None:
        gradient, param.grad = self.full_gradient(param.grad), None
        check_gradient(self.names.get(id(param), "a member projection"), gradient)
        self.gradients[id(param)] = gradient
        for key in self.groups_of[id(param)]:
            self.waiting[key].discard(id(param))
            if not self.waiting[key]:
                self._reduce(key)

    def _reduce(self, key: GroupKey) -> None:
        group, params = self.groups[key], self.members[key]
        buffers = {
            id(p): (self.gradients[id(p)] if id(p) in self.gradients else
                    torch.zeros(p.shape, dtype=p.dtype, device=p.device), None)
            for p in params
        }
        self.statistics[key] = reduce_group(group, self.context.layer_of(group), buffers,
                                            group_generator(self.context, group))
        for p in params:
            self.users[id(p)] -= 1
            if self.users[id(p)] == 0:
                self.gradients.pop(id(p), None)

    @contextmanager
    def hooked(self) -> Iterator["GroupReducer"]:
        params = {id(p): p for members in self.members.values() for p in members}.values()
        saved = [(p, p.grad) for p in params]
        handles = [p.register_post_accumulate_grad_hook(self._hook) for p in params]
        try:
            for p in params:
                p.grad = None
            yield self
        finally:
            for handle in handles:
                handle.remove()
            for p, grad in saved:
                p.grad = grad

    def finish(self) -> dict[GroupKey, TaylorStatistics]:
        """The statistics of every group; a group some gradient never reached is reduced with zeros for it."""
        for key in [key for key in self.groups if key not in self.statistics]:
            self._reduce(key)
        return {key: self.statistics[key] for key in self.groups}


def window_weights(calibration: list[torch.Tensor]) -> torch.Tensor:
    """Per window: 1/(|its batch|·(L−1)), which makes the weighted token-loss sum Σ_batches mean loss."""
    return torch.cat([torch.full((len(batch),), 1.0 / (len(batch) * (batch.shape[1] - 1))) for batch in calibration])


def _weighted_loss(model: nn.Module, hidden: torch.Tensor, input_ids: torch.Tensor, weights: torch.Tensor):
    logits = head_logits(model, hidden[:, :-1]).float()
    tokens = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1), reduction="none")
    return (tokens.view(len(input_ids), -1).sum(1) * weights).sum()


def streamed_statistics(context: ScoringContext) -> dict[GroupKey, TaylorStatistics]:
    """First-order `TaylorStatistics` of every pruned group from one streamed backward pass (module docstring)."""
    device = input_device(context.model)
    input_ids = torch.cat(context.calibration).to(device)
    weights = window_weights(context.calibration).to(device)
    return streamed_pass(context, input_ids, weights, last_hidden_state, GroupReducer(context, context.groups))


def streamed_pass(
    context: ScoringContext,
    input_ids: torch.Tensor,
    weights: torch.Tensor,
    hidden_of: HiddenOf,
    reducer: GroupReducer,
    desc: str = "Gradients (streamed)",
    show_progress: bool = True,
) -> dict[GroupKey, TaylorStatistics]:
    """One streamed pass over `input_ids` [N, L]: the last hidden state `hidden_of(model, input_ids)` with every
    decoder layer checkpointed, the `weights`-weighted token loss from it in checkpointed chunks, one backward, the
    `reducer`'s hooks reducing each group as its gradients arrive; returns the reducer's statistics."""
    model = context.model
    per_chunk = windows_per_chunk(model, input_ids.shape[1])
    params = member_parameters(context)
    progress = tqdm(total=2, desc=desc, leave=False, disable=not show_progress)
    with gradient_scope(model, params), activation_checkpointing(model, True), reducer.hooked(), torch.enable_grad():
        hidden = hidden_of(model, input_ids)
        progress.update()
        loss = sum(
            checkpoint(_weighted_loss, model, hidden[i: i + per_chunk], input_ids[i: i + per_chunk],
                       weights[i: i + per_chunk], use_reentrant=False)
            for i in range(0, len(input_ids), per_chunk)
        )
        del hidden
        loss.backward()
        progress.update()
    progress.close()
    return reducer.finish()
