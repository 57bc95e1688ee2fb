"""Pruning a model sharded across processes with FSDP2 (`torch.distributed.fsdp.fully_shard`).

Every rank holds 1/world of the weights. Scoring runs on the sharded model (`importance.sharded`: each rank scores
a share of the calibration batches on its shard, the statistics gathered one layer at a time, the same on every
rank); criteria and HyWIA's fusion then run their forward passes on the sharded model, every rank on the same
windows; rank 0's plan is broadcast. `gather_pruned` builds the pruned model on rank 0 one tensor at a time, cutting
each decoder layer as soon as its tensors are in, so rank 0 never holds the whole dense model: at most its shard,
the pruned layers and one full layer.

Launched as any torch.distributed job, e.g.
`torchrun --nproc_per_node 2 --no-python hywia prune --model ... --output ... --fsdp` (gloo on CPU, nccl on GPUs).

Example:
    >>> init_distributed()  # doctest: +SKIP
    >>> model = shard_model(model)  # doctest: +SKIP
    >>> pruned = HyWIAPruner(config).prune(model, tokenizer=tokenizer)  # doctest: +SKIP
    >>> if pruned is not None: pruned.save_pretrained("pruned")  # rank 0  # doctest: +SKIP
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor

from .architectures import ArchitectureSpec, UnitGroup, get_architecture_spec, groups_by_layer
from .training.distributed import rank
from .surgery.cut import prune_group

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init_distributed() -> None:
    """Join the process group a launcher (torchrun, accelerate launch) describes in the environment: nccl where
    CUDA is available, gloo otherwise. Nothing to do when a group is already initialised."""
    if dist.is_initialized():
        return
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"FSDP runs one process per device under a launcher, but {', '.join(missing)} is not set; run e.g. "
            "`torchrun --nproc_per_node 2 --no-python hywia prune ... --fsdp`."
        )
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)


def close_distributed() -> None:
    """Leave the process group `init_distributed` joined (nothing to do when none is initialised)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def shard_model(model: nn.Module) -> nn.Module:
    """Shard `model` with FSDP2 in place: each decoder layer its own FSDP module, then the model; returns it."""
    for layer in get_architecture_spec(model).layers(model):
        fully_shard(layer)
    fully_shard(model)
    return model


def _plain_class(model: nn.Module) -> type:
    """The class `model` had before `fully_shard` made it a subclass of FSDPModule."""
    return next(cls for cls in type(model).__mro__ if not issubclass(cls, FSDPModule))


def _place(root: nn.Module, name: str, value: torch.Tensor, parameter: bool, requires_grad: bool = False) -> None:
    module_path, _, leaf = name.rpartition(".")
    module = root.get_submodule(module_path) if module_path else root
    if parameter:
        setattr(module, leaf, nn.Parameter(value, requires_grad=requires_grad))
    else:
        module._buffers[leaf] = value  # keeps the buffer's registration (persistent or not)


def _layer_index(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix):
        return None
    return int(name[len(prefix):].split(".", 1)[0])


def gather_pruned(
    model: nn.Module, spec: ArchitectureSpec, groups: list[UnitGroup], plan: dict[tuple[int, str], torch.Tensor]
) -> nn.Module | None:
    """On rank 0: a plain copy of the FSDP2-sharded `model` with every group of `groups` cut to `plan` (the
    original class; the caller makes it the pruned type). Other ranks: None. A collective: every rank calls it.

    Tensors are gathered one at a time and each decoder layer is cut once its last tensor is in; every rank's shard of
    a tensor is freed once that tensor is gathered, so the sharded `model` is used up (its parameters are empty
    afterwards) and rank 0 holds at most the pruned layers, one full layer and the shards still to gather.
    """
    main = rank() == 0
    plain = None
    if main:
        with torch.device("meta"):
            plain = _plain_class(model)(model.config)
    prefix = spec.layers_path + "."
    by_layer = groups_by_layer(groups)

    def cut(index: int | None) -> None:
        if main and index is not None:
            layer = spec.layers(plain)[index]
            for group in by_layer.get(index, []):
                if group.key in plan:
                    prune_group(layer, group, plan[group.key])

    current = None
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if isinstance(parameter, DTensor):
                full = parameter.full_tensor()
                # the sharded model is consumed, as one process cuts its model in place: each rank's shard is freed
                # once gathered, so rank 0 holds the pruned tensors and the shards not yet gathered, never both whole
                parameter.to_local().untyped_storage().resize_(0)
            else:
                full = parameter.detach().clone()
            index = _layer_index(name, prefix)
            if index != current:
                cut(current)
                current = index
            if main:
                _place(plain, name, full.to("cpu" if full.device.type == "meta" else full.device), True,
                       parameter.requires_grad)
            del full
        cut(current)
    if not main:
        return None
    for name, buffer in model.named_buffers():
        _place(plain, name, buffer.detach().clone(), False)
    plain.tie_weights()
    left = [name for name, tensor in [*plain.named_parameters(), *plain.named_buffers()] if tensor.is_meta]
    if left:
        raise RuntimeError(f"Gathering the sharded model left tensors without values: {left[:5]}.")
    return plain.train(model.training)
