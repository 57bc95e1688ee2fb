"""The calibration backward pass: summed gradients (and the diagonal Fisher) of chosen parameters.

Used by the Taylor statistics (`gradients.py`) and, for its frozen-model scope, by the fusion training.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from ..architectures import UnitGroup, member_module
from ..finite import check_gradient_sums

if TYPE_CHECKING:
    from .base import ScoringContext


def member_parameters(context: ScoringContext, groups: list[UnitGroup] | None = None) -> list[nn.Parameter]:
    """Weights and biases of every member projection of `groups` (default: all pruned groups), each once."""
    params: dict[int, nn.Parameter] = {}
    for group in context.groups if groups is None else groups:
        layer = context.layer_of(group)
        for member in group.members:
            linear = member_module(layer, member)
            params.setdefault(id(linear.weight), linear.weight)
            if member.dim == 0 and linear.bias is not None:
                params.setdefault(id(linear.bias), linear.bias)
    return list(params.values())


def layer_chunks(context: ScoringContext) -> list[list[UnitGroup]]:
    """The pruned groups split into runs of `config.memory.layers_per_pass` consecutive pruned layers (one run: all)."""
    per_pass = context.config.memory.layers_per_pass
    layers = sorted({group.layer for group in context.groups})
    if per_pass is None or per_pass >= len(layers):
        return [list(context.groups)] if context.groups else []
    chunk_of = {layer: position // per_pass for position, layer in enumerate(layers)}
    chunks: list[list[UnitGroup]] = [[] for _ in range(max(chunk_of.values()) + 1)]
    for group in context.groups:
        chunks[chunk_of[group.layer]].append(group)
    return chunks


@contextmanager
def gradient_scope(model: nn.Module, params: list[nn.Parameter]) -> Iterator[None]:
    """eval() mode, requires_grad on `params` only (none: the whole model frozen); both restored on exit."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def supports_activation_checkpointing(model: nn.Module) -> bool:
    """Whether `model` (a transformers model) can recompute its decoder layers' activations in the backward pass."""
    return getattr(model, "supports_gradient_checkpointing", False) and any(
        hasattr(m, "gradient_checkpointing") for m in model.modules()
    )


@contextmanager
def activation_checkpointing(model: nn.Module, enabled: bool) -> Iterator[None]:
    """While active (and `enabled`), decoder layers recompute their activations in the backward pass.

    transformers checkpoints a layer only while that layer module is in training mode, so the layer modules alone
    are switched to training mode; their submodules stay in eval() (no dropout). Restored on exit.
    """
    if not enabled:
        yield
        return
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
    layers = [m for m in model.modules() if hasattr(m, "gradient_checkpointing")]
    if not supports_activation_checkpointing(model):
        raise ValueError(f"{type(model).__name__} does not support activation checkpointing.")
    already = any(layer.gradient_checkpointing for layer in layers)
    modes = [(layer, layer.training) for layer in layers]
    # enabling adds an input-embedding hook (`enable_input_require_grads`) that disabling leaves in place
    input_hook = getattr(model, "_require_grads_hook", None)
    try:
        if not already:
            enable({"use_reentrant": False})
        for layer in layers:
            layer.training = True
        yield
    finally:
        for layer, mode in modes:
            layer.training = mode
        if not already:
            disable()
            if getattr(model, "_require_grads_hook", None) is not input_hook:
                model.disable_input_require_grads()


def input_device(model: nn.Module) -> torch.device:
    """Where input ids go: the input embedding's device (the first parameter's when there is none)."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return embeddings.weight.device if embeddings is not None else next(model.parameters()).device


LOGITS_CHUNK_BYTES = 1 << 24  # float32 logits computed at once when windows are scored in pieces (16 MiB)


def windows_per_chunk(model: nn.Module, length: int, budget_bytes: int = LOGITS_CHUNK_BYTES) -> int:
    """How many windows of `length` tokens keep their float32 logits within `budget_bytes` (at least one)."""
    vocab = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else 1
    return max(1, budget_bytes // (length * vocab * 4))


def calibration_loss(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """Mean causal-LM token loss of one batch [b, L], labels = input ids."""
    return model(input_ids=input_ids, labels=input_ids, use_cache=False).loss


class _GradientSums:
    """Running sums of parameter gradients, filled by post-accumulate-grad hooks.

    Each `.grad` is folded into its sum (and squared into the Fisher sum) the moment autograd has produced it and
    then released, so at most one parameter's fresh gradient exists besides the sums; a parameter's first gradient
    becomes its sum without a copy when the dtypes agree. Gradients the caller's parameters held before are put
    back on exit.
    """

    def __init__(self, params: list[nn.Parameter], dtype: torch.dtype, second_order: bool):
        self.params, self.dtype, self.second_order = params, dtype, second_order
        self.grads: list[torch.Tensor | None] = [None] * len(params)
        self.fisher: list[torch.Tensor | None] | None = [None] * len(params) if second_order else None
        self.scale = 1.0  # weight of the next gradient in the sum g

    def _hook(self, index: int):
        def fold(param: nn.Parameter) -> None:
            grad, param.grad = param.grad.to(self.dtype), None
            if self.second_order:
                if self.fisher[index] is None:
                    self.fisher[index] = torch.zeros_like(grad)
                    self.grads[index] = torch.zeros_like(grad)
                self.fisher[index].addcmul_(grad, grad)
                self.grads[index].add_(grad, alpha=self.scale)
            elif self.grads[index] is None:
                self.grads[index] = grad
            else:
                self.grads[index].add_(grad)

        return fold

    @contextmanager
    def hooked(self) -> Iterator["_GradientSums"]:
        saved = [p.grad for p in self.params]
        handles = [p.register_post_accumulate_grad_hook(self._hook(i)) for i, p in enumerate(self.params)]
        try:
            for p in self.params:
                p.grad = None
            yield self
        finally:
            for handle in handles:
                handle.remove()
            for p, grad in zip(self.params, saved):
                p.grad = grad

    def results(self) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """The sums, zeros for parameters no gradient reached."""
        fill = lambda values: [  # noqa: E731
            v if v is not None else torch.zeros_like(p, dtype=self.dtype) for p, v in zip(self.params, values)
        ]
        return fill(self.grads), (None if self.fisher is None else fill(self.fisher))


def statistics_dtype(context: ScoringContext) -> torch.dtype:
    return getattr(torch, context.config.memory.statistics_dtype)


def accumulate_gradients(
    context: ScoringContext, params: list[nn.Parameter], second_order: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Summed gradient g (and, with `second_order`, the diagonal Fisher F) of `params` over the calibration set.

    Buffers are in `config.memory.statistics_dtype`; with `config.memory.gradient_checkpointing` the decoder layers
    recompute their activations in the backward pass; `config.memory.gradient_micro_batch` splits each batch into
    backward passes of that many sequences. Only `params` get gradients, so the backward pass stops at the
    earliest layer holding one of them.
    """
    if not context.calibration:
        raise ValueError("Gradient statistics need calibration batches (`context.calibration` is empty).")
    model = context.model
    device = input_device(model)
    sums = _GradientSums(params, statistics_dtype(context), second_order)
    samples = 0
    desc = "Gradients (per sequence)" if second_order else "Gradients"
    micro_batch = context.config.memory.gradient_micro_batch
    checkpointing = activation_checkpointing(model, context.config.memory.gradient_checkpointing)
    with gradient_scope(model, params), checkpointing, sums.hooked(), torch.enable_grad():
        for batch in tqdm(context.calibration, desc=desc, leave=False):
            batch = batch.to(device)
            if not second_order:
                # the batch loss is the mean of its sequences' losses (equal lengths), so weighted micro-batch
                # backward passes sum to the batch gradient with a fraction of the activations alive at once
                for part in batch.split(micro_batch or len(batch)):
                    (calibration_loss(model, part) * (len(part) / len(batch))).backward()
                continue
            sums.scale = 1.0 / len(batch)
            for sequence in batch:
                calibration_loss(model, sequence.unsqueeze(0)).backward()
                samples += 1
    grads, fisher = sums.results()
    check_gradient_sums(model, params, grads)
    if fisher is not None:
        for fish in fisher:
            fish.div_(samples)
    return grads, fisher
