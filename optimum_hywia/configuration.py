"""HyWIAConfig: what to prune, how much, and how importance is judged."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .version import __version__

CONFIG_NAME = "hywia_config.json"
SCOPES = ("layer", "global")
GQA_MODES = ("kv_group", "query_heads")


def _check_choice(name: str, value: Any, allowed: tuple | list) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")


@dataclass
class HyWIAConfig:
    """How a model is pruned.

    Example:
        >>> from optimum_hywia import HyWIAConfig
        >>> config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", scope="global")
        >>> config.pruned_layers(30)[:3]
        [3, 4, 5]
    """

    pruning_ratio: float = field(
        default=0.2, metadata={"help": "Fraction of the units of each kind removed from the pruned layers, in [0, 1)."}
    )
    importance: str = field(
        default="magnitude_l1", metadata={"help": "Name of the importance criterion (see `available_importances()`)."}
    )
    prune_attention: bool = field(default=True, metadata={"help": "Remove attention heads / KV groups."})
    prune_mlp: bool = field(default=True, metadata={"help": "Remove MLP channels."})
    skip_first_layers: int | None = field(
        default=None,
        metadata={"help": "Layers left untouched at the start; None: depth/8 (LLM-Pruner keeps 4 of 32)."},
    )
    skip_last_layers: int | None = field(
        default=None,
        metadata={"help": "Layers left untouched at the end; None: ceil(depth/16) (LLM-Pruner keeps 2 of 32)."},
    )
    scope: str = field(
        default="layer",
        metadata={"help": "`layer`: the same ratio in every pruned layer; `global`: one ranking over all pruned "
                  "layers, scores divided by their layer's mean."},
    )
    gqa_mode: str = field(
        default="kv_group",
        metadata={"help": "Grouped-query attention unit: `kv_group` (a KV head and its query heads) or "
                  "`query_heads` (query heads only, every KV group losing the same number)."},
    )
    min_units_per_layer: int = field(
        default=1, metadata={"help": "Every pruned layer keeps at least this many heads/groups and channels."}
    )
    calibration_data: str = field(
        default="builtin:austen",
        metadata={"help": "Calibration text: `builtin:<name>`, a text file, a saved `datasets` folder or a Hub "
                  "dataset name."},
    )
    num_calibration_samples: int = field(default=16, metadata={"help": "Number of calibration windows."})
    calibration_seq_len: int = field(default=128, metadata={"help": "Tokens per calibration window."})
    seed: int = field(default=0, metadata={"help": "Seed for calibration sampling and random choices."})

    def __post_init__(self) -> None:
        ratio = self.pruning_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio < 1.0:
            raise ValueError(f"`pruning_ratio` must be a number in [0, 1), got {ratio!r}.")
        from .importance import available_importances

        _check_choice("importance", self.importance, available_importances())
        _check_bool("prune_attention", self.prune_attention)
        _check_bool("prune_mlp", self.prune_mlp)
        for name in ("skip_first_layers", "skip_last_layers"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 0)
        _check_choice("scope", self.scope, SCOPES)
        _check_choice("gqa_mode", self.gqa_mode, GQA_MODES)
        _check_int("min_units_per_layer", self.min_units_per_layer, 1)
        if not isinstance(self.calibration_data, str) or not self.calibration_data:
            raise ValueError(f"`calibration_data` must be a non-empty string, got {self.calibration_data!r}.")
        _check_int("num_calibration_samples", self.num_calibration_samples, 1)
        _check_int("calibration_seq_len", self.calibration_seq_len, 2)
        _check_int("seed", self.seed, 0)

    def pruned_layers(self, num_layers: int) -> list[int]:
        """Indices of the layers this config prunes in a model of `num_layers` decoder layers."""
        first = num_layers // 8 if self.skip_first_layers is None else self.skip_first_layers
        last = -(-num_layers // 16) if self.skip_last_layers is None else self.skip_last_layers
        if first + last >= num_layers:
            raise ValueError(
                f"`skip_first_layers`={first} and `skip_last_layers`={last} leave no layer to prune in a model of "
                f"{num_layers} layers."
            )
        return list(range(first, num_layers - last))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write `hywia_config.json` (sorted keys, library version stamped) into `save_directory`."""
        path = Path(save_directory) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {**self.to_dict(), "optimum_hywia_version": __version__}
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "HyWIAConfig":
        values = dict(values)
        written_by = values.pop("optimum_hywia_version", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown and written_by and written_by != __version__:
            warnings.warn(f"Ignoring {unknown}: written by optimum-hywia {written_by}, this is {__version__}.")
            values = {key: value for key, value in values.items() if key in known}
        elif unknown:
            raise ValueError(f"Unknown HyWIAConfig fields {unknown}; known fields: {sorted(known)}.")
        return cls(**values)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "HyWIAConfig":
        """Read a config from a folder holding `hywia_config.json` (or from that file itself)."""
        path = Path(path)
        file = path / CONFIG_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"No {CONFIG_NAME} at {path}.")
        return cls.from_dict(json.loads(file.read_text()))
