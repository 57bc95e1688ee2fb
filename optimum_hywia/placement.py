"""Whether a model's weights lie where pruning can score and cut them.

Scoring hooks each member projection's parameters, and surgery slices them in place, so every weight must be a real
tensor held by its module. accelerate's offloading (`device_map` with CPU or disk offload, `cpu_offload`,
`disk_offload`) keeps only meta placeholders on the modules and swaps the weights in for each forward pass; a model
built on the meta device has no weights at all. Both are refused before any work, with what to do instead.

Example:
    >>> check_placement(model)  # doctest: +SKIP
"""

from __future__ import annotations

from accelerate.utils import has_offloaded_params
from torch import nn

from .errors import PlacementError


def offloaded_modules(model: nn.Module) -> list[str]:
    """Names of the modules of `model` whose parameters accelerate has offloaded (weights swapped in per forward)."""
    return [name or "(the model)" for name, module in model.named_modules() if has_offloaded_params(module)]


def check_placement(model: nn.Module) -> None:
    """Raise PlacementError when some weight of `model` is offloaded by accelerate or on the meta device."""
    offloaded = offloaded_modules(model)
    if offloaded:
        raise PlacementError(
            f"{len(offloaded)} modules have their weights offloaded by accelerate (e.g. `{offloaded[0]}`): pruning "
            "scores and cuts weights in place, so it cannot reach offloaded ones. Load the model without offloading "
            "(a `device_map` that fits every weight in memory), or shard it across processes with FSDP2: "
            "`torchrun --nproc_per_node N --no-python hywia prune ... --fsdp`."
        )
    meta = [name for name, parameter in model.named_parameters() if parameter.is_meta]
    if meta:
        raise PlacementError(
            f"{len(meta)} parameters are on the meta device (e.g. `{meta[0]}`), so the model has no weights to score; "
            "load it with its weights (`from_pretrained` without `device_map=\"meta\"` or `init_empty_weights`)."
        )
