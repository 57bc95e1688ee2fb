"""Refusing NaN and infinite numbers: in the weights before scoring, in the gradient sums, in the scores.

A NaN weight would be scored, pruned or kept and saved silently; a bf16 overflow in a large model's gradients
would give a plan made of NaNs. Each check raises one `NonFiniteError` naming the tensor (and so its layer), how many
values are bad, and what to try.

Example:
    >>> import torch
    >>> check_finite(torch.ones(3), "weight `model.layers.0.mlp.up_proj.weight`")
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .errors import NonFiniteError

_LAYER = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")


def _layer_of(name: str) -> str:
    match = _LAYER.search(f".{name}")
    return f" (layer {match.group(1)})" if match else ""


def check_finite(tensor: torch.Tensor, what: str, advice: str = "") -> None:
    """Raise `NonFiniteError` if `tensor` holds a NaN or an infinity; `what` names it in the message."""
    if torch.isfinite(tensor).all():
        return
    nan = int(torch.isnan(tensor).sum())
    inf = int(torch.isinf(tensor).sum())
    raise NonFiniteError(f"{what} holds {nan} NaN and {inf} infinite value(s) of {tensor.numel()}. "
                         f"Nothing was pruned.{' ' + advice if advice else ''}")


def check_weights(model: nn.Module) -> None:
    """Every parameter of `model` finite, else one error naming the first bad one and its layer."""
    for name, parameter in model.named_parameters():
        check_finite(parameter.detach(), f"Weight `{name}`{_layer_of(name)}",
                     "The checkpoint is damaged or was saved after a diverged run: load a good copy.")


def check_gradient_sums(model: nn.Module, params: list[nn.Parameter], sums: list[torch.Tensor]) -> None:
    """The calibration gradient sums of `params` finite, else one error naming the parameter and its layer."""
    names = {id(p): name for name, p in model.named_parameters()}
    for parameter, total in zip(params, sums):
        check_gradient(names.get(id(parameter), "a member projection"), total)


def check_gradient(name: str, gradient: torch.Tensor) -> None:
    """The calibration gradient (or gradient sum) of parameter `name` finite, else one error naming it and its layer."""
    check_finite(gradient, f"The calibration gradient of `{name}`{_layer_of(name)}",
                 "A half-precision overflow? Score with `statistics_dtype='float32'` and the model in float32 or "
                 "bfloat16 (not float16), or check the calibration text.")


def check_scores(scores: dict, criterion: str) -> None:
    """Every group's importance scores finite, else one error naming the group (layer and unit kind)."""
    for key, values in scores.items():
        layer, kind = key if isinstance(key, tuple) else (key, "")
        check_finite(values, f"The `{criterion}` scores of layer {layer} {kind}".rstrip(),
                     "The statistics they were computed from overflowed or the weights are damaged.")
