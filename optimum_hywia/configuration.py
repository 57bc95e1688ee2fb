"""HyWIAConfig: what to prune, how much, and how importance is judged.

The fusion, calibration and memory options are sections (`config.fusion.steps`, `config.calibration.data`,
`config.memory.layers_per_pass`; `config_sections.py`); the CLI and `hywia_config.json` name every option flat
(`fusion_steps`, `calibration_data`, `layers_per_pass`), and the constructor takes either spelling.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_fields import check_bool, check_choice, check_int, check_optional_int, is_number, option
from .config_sections import FLAT_NAMES, SECTIONS, CalibrationConfig, FusionConfig, MemoryConfig, Section
from .errors import ConfigError
from .registry import ALLOCATIONS, IMPORTANCES
from .version import __version__

CONFIG_NAME = "hywia_config.json"
SCOPES = ("layer", "global")  # the retired `scope` field's values, each now an allocation of the same name
GQA_MODES = ("kv_group", "query_heads")
COARSE_READINGS = ("group", "vector")
NORMALIZATIONS = ("rank", "mean")
# serving engine -> MLP width granularity it runs fast at (k-quants store rows in blocks of 256 values, QK_K)
TARGET_ROUND_TO = {"transformers": 8, "gpu": 64, "llama.cpp": 64, "llama.cpp-kquant": 256}


def recipe_json(recipe: dict[str, Any]) -> str:
    """The text of `hywia_config.json` for a recipe (`HyWIAConfig.to_recipe()`, or one read back): sorted keys."""
    return json.dumps(recipe, indent=2, sort_keys=True) + "\n"


def section_field(section: type[Section], help_text: str) -> Any:
    return field(default_factory=section, metadata={"help": help_text, "section": True})


def _section_value(name: str, given: Any, flat: dict[str, Any]) -> Section:
    """Section `name` from what was given (a section, its dict, or nothing) with the flat-named values on top."""
    cls = SECTIONS[name]
    if given is None:
        given = cls()
    elif isinstance(given, dict):
        given = cls(**given)
    elif not isinstance(given, cls):
        raise ConfigError(f"`{name}` must be a {cls.__name__} (or a dict of its fields), got {given!r}.")
    return dataclasses.replace(given, **flat) if flat else given


@dataclass(init=False)
class HyWIAConfig:
    """How a model is pruned.

    Options of the fusion, the calibration text and the gradient pass's memory live in sections; each may also be
    given by its flat name (the CLI's and the recipe's): `HyWIAConfig(fusion_steps=16)` is
    `HyWIAConfig(fusion=FusionConfig(steps=16))`, and `fusion="fixed"` sets `fusion.mode`.

    Example:
        >>> from optimum_hywia import HyWIAConfig
        >>> config = HyWIAConfig(pruning_ratio=0.5, calibration_data="builtin:mixed")  # hywia: learned fusion
        >>> config.pruned_layers(30)[:3], config.calibration.data, config.fusion.steps
        ([3, 4, 5], 'builtin:mixed', 8)
    """

    pruning_ratio: float = option(
        0.2,
        "How much is removed, in [0, 1): a fraction of the units of each kind under the `layer`, "
        "`global` and `llm_pruner` allocations; a fraction of the parameters of the prunable units under "
        "`cost_aware`, `params_global`, `fine_implied` and `learned`."
    )
    importance: str = option("hywia", "Name of the importance criterion (see `available_importances()`).")
    prune_attention: bool = option(True, "Remove attention heads / KV groups.")
    prune_mlp: bool = option(True, "Remove MLP channels.")
    skip_first_layers: int | None = option(
        None,
        "Layers left untouched at the start; None: depth/8 (LLM-Pruner keeps 4 of 32)."
    )
    skip_last_layers: int | None = option(
        None,
        "Layers left untouched at the end; None: ceil(depth/16) (LLM-Pruner keeps 2 of 32)."
    )
    scope: str | None = option(
        None,
        "Deprecated, use `allocation` (`layer` and `global` are allocations of the same name); a "
        "value given here moves to `allocation` with a FutureWarning."
    )
    gqa_mode: str = option(
        "kv_group",
        "Grouped-query attention unit: `kv_group` (a KV head and its query heads) or "
        "`query_heads` (query heads only, every KV group losing the same number)."
    )
    min_units_per_layer: int = option(1, "Every pruned layer keeps at least this many heads/groups and channels.")
    seed: int = option(0, "Seed for calibration sampling and random choices.")
    allocation: str | None = option(
        None,
        "How many units each layer and kind loses (`available_allocations()`); None: `learned` "
        "for hywia with fusion `attention`, else `layer`."
    )
    coarse: str = option(
        "group",
        "Coarse reading: `group` (|Σ w·g| over the unit) or `vector` (LLM-Pruner's per row/column)."
    )
    taylor_order: int = option(1, "Taylor saliency order for hywia: 1 or 2.")
    score_normalization: str = option("rank", "Within-group normalisation of fine/coarse scores: `rank` or `mean`.")
    round_to: int = option(
        1,
        "Kept MLP channels of every pruned layer rounded to a multiple of this (1: no rounding); "
        "regular widths run faster on some kernels."
    )
    target: str | None = option(
        None,
        "Engine the pruned model is for: `transformers` (MLP widths to multiples of 8), `gpu` (64), "
        "`llama.cpp` (64), `llama.cpp-kquant` (256: no k-quant fallback tensors); sets `round_to` when it "
        "is left at 1, and is recorded in the recipe and the card."
    )
    fusion: FusionConfig = section_field(FusionConfig, "hywia: how the blend of fine and coarse scores is learned.")
    calibration: CalibrationConfig = section_field(CalibrationConfig, "The calibration and selection texts.")
    memory: MemoryConfig = section_field(MemoryConfig, "Memory and time of the calibration gradient pass.")

    def __init__(self, **values: Any) -> None:
        flat: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        if isinstance(values.get("fusion"), str):  # the flat name of `fusion.mode`
            flat["fusion"]["mode"] = values.pop("fusion")
        for name in [key for key in values if key in FLAT_NAMES and key != "fusion"]:
            section, key = FLAT_NAMES[name]
            flat[section][key] = values.pop(name)
        for f in dataclasses.fields(self):
            if f.metadata.get("section"):
                setattr(self, f.name, _section_value(f.name, values.pop(f.name, None), flat[f.name]))
            else:
                setattr(self, f.name, values.pop(f.name, f.default))
        if values:
            raise ConfigError(f"Unknown HyWIAConfig fields {sorted(values)}; known fields: {self.field_names()}.")
        self.__post_init__()

    @classmethod
    def field_names(cls) -> list[str]:
        """Every option under the name the CLI and the recipe give it (`fusion_steps`, not `fusion.steps`)."""
        top = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("section")]
        return top + list(FLAT_NAMES)

    @classmethod
    def flat_fields(cls) -> list[tuple[str, dataclasses.Field, Any]]:
        """(flat name, field, type hint) of every option: the top-level fields, then each section's."""
        out = []
        for owner in (cls, *SECTIONS.values()):
            hints = typing.get_type_hints(owner)
            out += [(f.metadata.get("flat", f.name), f, hints[f.name]) for f in dataclasses.fields(owner)
                    if not f.metadata.get("section")]
        return out

    def __post_init__(self) -> None:
        ratio = self.pruning_ratio
        if not is_number(ratio) or not 0.0 <= ratio < 1.0:
            raise ConfigError(f"`pruning_ratio` must be a number in [0, 1), got {ratio!r}.")
        check_choice("importance", self.importance, IMPORTANCES.names())
        check_bool("prune_attention", self.prune_attention)
        check_bool("prune_mlp", self.prune_mlp)
        for name in ("skip_first_layers", "skip_last_layers"):
            check_optional_int(name, getattr(self, name), 0)
        self._retire_scope()
        check_choice("gqa_mode", self.gqa_mode, GQA_MODES)
        check_int("min_units_per_layer", self.min_units_per_layer, 1)
        check_int("seed", self.seed, 0)
        if self.allocation is not None:
            check_choice("allocation", self.allocation, ALLOCATIONS.names())
        check_choice("coarse", self.coarse, COARSE_READINGS)
        check_choice("taylor_order", self.taylor_order, (1, 2))
        check_choice("score_normalization", self.score_normalization, NORMALIZATIONS)
        check_int("round_to", self.round_to, 1)
        if self.target is not None:
            check_choice("target", self.target, tuple(TARGET_ROUND_TO))
            if self.round_to == 1:
                self.round_to = TARGET_ROUND_TO[self.target]
        self._check_combinations()

    def _check_combinations(self) -> None:
        """Values that are each fine but cannot work together: found here, not after the gradient pass."""
        # the registry holds the criterion object; asking it needs no import of the scoring stack
        gives_removal = IMPORTANCES.get(self.importance).gives_removal(self)
        if self.allocation == "learned" and gives_removal is False:
            raise ConfigError(
                f"`allocation='learned'` uses the blend the HyWIA fusion learns, so it needs `importance='hywia'` and "
                f"`fusion='attention'` (got importance={self.importance!r}, fusion={self.fusion.mode!r}). Use another "
                "allocation (`available_allocations()`) or the hywia criterion."
            )
        if self._learns_allocation() and self.fusion.holdout_samples >= self.calibration.num_samples:
            raise ConfigError(
                f"`fusion_holdout_samples` ({self.fusion.holdout_samples}) must be smaller than "
                f"`num_calibration_samples` ({self.calibration.num_samples}), or no window is left to train the "
                "fusion on. Lower it (0 turns the hold-out off) or raise `num_calibration_samples`."
            )

    def _learns_allocation(self) -> bool:
        return self.importance == "hywia" and self.fusion.mode == "attention"

    def _retire_scope(self) -> None:
        """Move a value of the retired `scope` to `allocation`, where it used to take effect."""
        if self.scope is None:
            return
        check_choice("scope", self.scope, SCOPES)
        takes_effect = self.allocation is None and not self._learns_allocation()
        warnings.warn(
            f"`scope` is deprecated: use `allocation={self.scope!r}`"
            + ("." if takes_effect else f" (ignored here: the allocation is `{self.resolved_allocation}`)."),
            FutureWarning,
            stacklevel=4,
        )
        if takes_effect:
            self.allocation = self.scope
        self.scope = None

    @property
    def resolved_allocation(self) -> str:
        """The allocation used: `allocation` if set, else `learned` for the learned fusion, else `layer`."""
        if self.allocation is not None:
            return self.allocation
        return "learned" if self._learns_allocation() else "layer"

    def pruned_layers(self, num_layers: int) -> list[int]:
        """Indices of the layers this config prunes in a model of `num_layers` decoder layers."""
        first = num_layers // 8 if self.skip_first_layers is None else self.skip_first_layers
        last = -(-num_layers // 16) if self.skip_last_layers is None else self.skip_last_layers
        if first + last >= num_layers:
            raise ConfigError(
                f"`skip_first_layers`={first} and `skip_last_layers`={last} leave no layer to prune in a model of "
                f"{num_layers} layers."
            )
        return list(range(first, num_layers - last))

    def to_dict(self) -> dict[str, Any]:
        """Every option under its flat name (what the CLI takes and `hywia_config.json` holds)."""
        top = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("section")}
        return {**top, **{k: v for name in SECTIONS for k, v in getattr(self, name).to_flat_dict().items()}}

    def to_recipe(self) -> dict[str, Any]:
        """The fields with the library version stamped in: what `hywia_config.json` holds."""
        return {**self.to_dict(), "optimum_hywia_version": __version__}

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write `hywia_config.json` (sorted keys, library version stamped) into `save_directory`."""
        path = Path(save_directory) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(recipe_json(self.to_recipe()))
        return path

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "HyWIAConfig":
        values = dict(values)
        written_by = values.pop("optimum_hywia_version", None)
        known = set(cls.field_names()) | set(SECTIONS)
        unknown = sorted(set(values) - known)
        if unknown and written_by and written_by != __version__:
            warnings.warn(f"Ignoring {unknown}: written by optimum-hywia {written_by}, this is {__version__}.")
            values = {key: value for key, value in values.items() if key in known}
        elif unknown:
            raise ConfigError(f"Unknown HyWIAConfig fields {unknown}; known fields: {cls.field_names()}.")
        return cls(**values)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "HyWIAConfig":
        """Read a config from a folder holding `hywia_config.json` (or from that file itself)."""
        path = Path(path)
        file = path / CONFIG_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"No {CONFIG_NAME} at {path}.")
        return cls.from_dict(json.loads(file.read_text()))
