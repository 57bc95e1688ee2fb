"""Telling a peft-wrapped model from a plain one, without importing peft."""

from __future__ import annotations

from torch import nn


def is_peft_model(model: nn.Module) -> bool:
    """Whether `model` is a peft wrapper (it can give its base model and merge its adapters)."""
    return hasattr(model, "get_base_model") and hasattr(model, "merge_and_unload")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The causal LM inside a peft wrapper (the model itself otherwise).

    Example:
        >>> import torch
        >>> layer = torch.nn.Linear(2, 2)
        >>> unwrap_model(layer) is layer
        True
    """
    return model.get_base_model() if is_peft_model(model) else model
