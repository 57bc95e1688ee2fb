"""Weights read into the process's own memory instead of left as views of memory-mapped files.

transformers loads safetensors weights as views of the mapped files. Pages of a mapping that have been read count
as the process's memory for as long as any view of that file lives, so once pruning has replaced a layer's weights
by smaller copies, the old weights' pages still count until the last untouched weight (the embedding, a norm) goes:
the surgery, not the scoring, then set the peak. `read_weights_into_memory` replaces each such view by a tensor
read from the file with plain reads (`pread`), before any page of the mapping is touched, so replaced weights are
freed for real.

Example:
    >>> model = AutoModelForCausalLM.from_pretrained("models/tiny")  # doctest: +SKIP
    >>> read_weights_into_memory(model, "models/tiny")                # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn


def read_weights_into_memory(model: nn.Module, folder: str | os.PathLike) -> int:
    """Replace every CPU parameter and buffer of `model` whose tensor is stored, same dtype and shape, in `folder`'s
    safetensors files by a copy read from the file; returns how many were replaced. Tied weights stay tied (the
    parameter object is kept, only its data changes); tensors the files do not hold as they are stay as loaded."""
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    replaced = 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(file, framework="pt", device="cpu", backend="pread") as weights:
            for key in weights.keys():
                target = tensors.get(key)
                if target is None or target.device.type != "cpu" or tuple(target.shape) != tuple(
                    weights.get_slice(key).get_shape()
                ):
                    continue
                value = weights.get_tensor(key)
                if value.dtype != target.dtype:
                    continue
                with torch.no_grad():
                    target.data = value
                replaced += 1
    return replaced
