"""The callback's state beside a Trainer checkpoint: `hywia_state.json` (stage, kept units, calibration windows,
history) and, mid-stage, the summed gradients (`hywia_gradients.safetensors`), so a resumed run prunes the same units.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..allocation.budget import GroupKey
from ..version import __version__

STATE_NAME = "hywia_state.json"
GRADIENTS_NAME = "hywia_gradients.safetensors"


def kept_to_json(kept: dict[GroupKey, torch.Tensor] | None) -> dict[str, list[int]] | None:
    return None if kept is None else {f"{layer}.{kind}": units.tolist() for (layer, kind), units in kept.items()}


def kept_from_json(kept: dict[str, list[int]] | None) -> dict[GroupKey, torch.Tensor] | None:
    if kept is None:
        return None
    return {(int(key.split(".")[0]), key.split(".")[1]): torch.tensor(units, dtype=torch.long)
            for key, units in kept.items()}


def save_training_state(folder: str | os.PathLike, state: dict[str, Any], grads: list[torch.Tensor] | None) -> None:
    """Write `state` (JSON-ready, the library version added) and, when given, the gradient sums into `folder`.

    Example:
        >>> save_training_state("out/checkpoint-4", {"next_stage": 1}, None)  # doctest: +SKIP
    """
    folder = Path(folder)
    (folder / STATE_NAME).write_text(json.dumps({"optimum_hywia_version": __version__, **state}, indent=1,
                                                sort_keys=True) + "\n")
    if grads is not None:
        save_file({str(i): g.contiguous() for i, g in enumerate(grads)}, str(folder / GRADIENTS_NAME))


def has_training_state(folder: str | os.PathLike) -> bool:
    return (Path(folder) / STATE_NAME).is_file()


def load_training_state(folder: str | os.PathLike, expected: dict[str, Any]) -> dict[str, Any]:
    """The state saved in `folder`; raises when one of the `expected` entries (e.g. the config) differs."""
    path = Path(folder) / STATE_NAME
    saved = json.loads(path.read_text())
    mine = json.loads(json.dumps(expected))
    for key, value in mine.items():
        if saved[key] != value:
            raise ValueError(f"{path} was written with {key} {saved[key]}, this callback has {value}: resume with the "
                             "same HyWIAConfig and schedule.")
    return saved


def load_gradient_sums(folder: str | os.PathLike, devices: list[torch.device]) -> list[torch.Tensor] | None:
    """The gradient sums saved in `folder` (None when there are none), one per device given."""
    path = Path(folder) / GRADIENTS_NAME
    if not path.is_file():
        return None
    loaded = load_file(str(path))
    return [loaded[str(i)].to(device) for i, device in enumerate(devices)]
