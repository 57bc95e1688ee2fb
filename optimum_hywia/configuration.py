"""HyWIAConfig: what to prune, how much, and how importance is judged."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .registry import ALLOCATIONS, IMPORTANCES
from .text_sources import check_text_source, shared_builtin_files
from .version import __version__

CONFIG_NAME = "hywia_config.json"
SCOPES = ("layer", "global")  # the retired `scope` field's values, each now an allocation of the same name
GQA_MODES = ("kv_group", "query_heads")
FUSIONS = ("attention", "fixed")
COARSE_READINGS = ("group", "vector")
NORMALIZATIONS = ("rank", "mean")
STATISTICS_DTYPES = ("float32", "bfloat16")
STATISTICS_PASSES = ("streamed", "buffered")
AUTOCAST_DTYPES = ("auto", "bfloat16", "float16", "float32")
# serving engine -> MLP width granularity it runs fast at (k-quants store rows in blocks of 256 values, QK_K)
TARGET_ROUND_TO = {"transformers": 8, "gpu": 64, "llama.cpp": 64, "llama.cpp-kquant": 256}


def recipe_json(recipe: dict[str, Any]) -> str:
    """The text of `hywia_config.json` for a recipe (`HyWIAConfig.to_recipe()`, or one read back): sorted keys."""
    return json.dumps(recipe, indent=2, sort_keys=True) + "\n"


def option(default: Any, help_text: str) -> Any:
    """A configuration field: its default and the help the CLI and docs show (`metadata["help"]`)."""
    return field(default=default, metadata={"help": help_text})


def _check_choice(name: str, value: Any, allowed: tuple | list) -> None:
    if value not in allowed:
        raise ConfigError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fraction(name: str, value: Any) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"`{name}` must be a number in [0, 1], got {value!r}.")


def _check_positive(name: str, value: Any, allow_zero: bool = False) -> None:
    if not _is_number(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"`{name}` must be a number {bound}, got {value!r}.")


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"`{name}` must be a non-empty string, got {value!r}.")
    check_text_source(value)


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"`{name}` must be True or False, got {value!r}.")


@dataclass
class HyWIAConfig:
    """How a model is pruned.

    Example:
        >>> from optimum_hywia import HyWIAConfig
        >>> config = HyWIAConfig(pruning_ratio=0.5)  # hywia: learned fusion and allocation
        >>> config.pruned_layers(30)[:3]
        [3, 4, 5]
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
    calibration_data: str = option(
        "builtin:austen",
        "Calibration text: `builtin:<name>`, a text file, a saved `datasets` folder or a Hub "
        "dataset name."
    )
    num_calibration_samples: int = option(16, "Number of calibration windows.")
    calibration_seq_len: int = option(128, "Tokens per calibration window.")
    seed: int = option(0, "Seed for calibration sampling and random choices.")
    allocation: str | None = option(
        None,
        "How many units each layer and kind loses (`available_allocations()`); None: `learned` "
        "for hywia with fusion `attention`, else `layer`."
    )
    fusion: str = option(
        "attention",
        "hywia: `attention` (blend learned end to end) or `fixed` (blend = fusion_alpha)."
    )
    fusion_alpha: float = option(0.5, "Fixed fusion: weight of the fine-grained score.")
    coarse: str = option(
        "group",
        "Coarse reading: `group` (|Σ w·g| over the unit) or `vector` (LLM-Pruner's per row/column)."
    )
    taylor_order: int = option(1, "Taylor saliency order for hywia: 1 or 2.")
    score_normalization: str = option("rank", "Within-group normalisation of fine/coarse scores: `rank` or `mean`.")
    fusion_steps: int = option(8, "Training steps of the fusion attention.")
    fusion_lr: float = option(0.05, "Adam learning rate of the fusion attention.")
    fusion_batch_size: int = option(2, "Calibration windows per fusion step.")
    fusion_seq_len: int | None = option(
        64,
        "Tokens per fusion window: calibration windows are cut into pieces of this length "
        "(None: whole windows). The fusion's cost grows with the tokens it runs."
    )
    fusion_holdout_samples: int = option(
        4,
        "Only without `selection_data` windows (token ids given without a tokenizer, the callback): "
        "calibration windows held out of fusion training to pick the step and plan (0: off)."
    )
    selection_data: str = option(
        "builtin:validation",
        "hywia: text of the windows that pick the fusion's step and the shipped plan, never used for "
        "statistics or training; must differ from `calibration_data` (default: Sense and Sensibility + a "
        "Jargon File slice kept apart from the calibration and evaluation texts)."
    )
    selection_samples: int = option(
        16,
        "hywia: windows drawn from `selection_data`, of `fusion_seq_len` tokens (at most "
        "`calibration_seq_len`). Fewer make the pick noisy: with 4 windows of 128 tokens it shipped plans "
        "worse on held-out text than the best candidate."
    )
    choose_plan: bool = option(
        True,
        "hywia: start the fusion from the best untrained plan (the cost-aware ranking by fine "
        "score under fine or coarse selection) and, after training, score the candidate plans (those, the "
        "learned allocation under the learned blend and under the starting granularity, the cost-aware "
        "ranking under the blend) on the selection windows and ship the best (False: neither; ship the "
        "learned plan)."
    )
    fusion_eval_every: int = option(
        8,
        "Steps between held-out evaluations (the first and last step are always judged)."
    )
    fusion_autocast: str | None = option(
        "auto",
        "Run the fusion's and the plan pick's passes under torch.autocast in this dtype: `auto` "
        "(bfloat16 where the device has fast bfloat16 matmuls: a CUDA GPU that supports it, a CPU with "
        "AVX-512 BF16 or AMX; else the model's dtype), `bfloat16`, `float16`, or `float32` / None (the "
        "model's dtype). The calibration gradients are never autocast."
    )
    temperature_start: float = option(0.1, "Soft-mask temperature at the first step.")
    temperature_end: float = option(0.005, "Soft-mask temperature at the last step.")
    budget_penalty: float = option(10.0, "λ of the (mean mask − keep ratio)² penalty.")
    kl_weight: float = option(0.0, "Weight of the KL term to the dense model's logits.")
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
    statistics_dtype: str = option(
        "float32",
        "dtype of the per-weight gradient buffers of the Taylor statistics: `float32` or "
        "`bfloat16` (half the memory; per-unit sums stay float64)."
    )
    statistics_pass: str = option(
        "streamed",
        "How first-order Taylor statistics are gathered: `streamed` (one backward pass over all "
        "calibration windows, layers checkpointed, each gradient reduced to per-unit statistics at once: "
        "memory about the weights plus one layer) or `buffered` (a backward pass per batch into per-weight "
        "gradient sums: the options below apply). Second-order statistics are always buffered."
    )
    gradient_checkpointing: bool = option(
        False,
        "Recompute activations in the backward pass of the calibration gradients (less memory, "
        "about one more forward pass of time)."
    )
    gradient_micro_batch: int | None = option(
        None,
        "Sequences per backward pass of the calibration gradients (None: whole batches). Smaller: "
        "fewer activations in memory at once, the same gradients."
    )
    layers_per_pass: int | None = option(
        None,
        "Gradient statistics for this many pruned layers per pass over the calibration data "
        "(None: all at once). Bounds gradient memory to that many layers, at one pass per chunk."
    )

    def __post_init__(self) -> None:
        ratio = self.pruning_ratio
        if not _is_number(ratio) or not 0.0 <= ratio < 1.0:
            raise ConfigError(f"`pruning_ratio` must be a number in [0, 1), got {ratio!r}.")
        _check_choice("importance", self.importance, IMPORTANCES.names())
        _check_bool("prune_attention", self.prune_attention)
        _check_bool("prune_mlp", self.prune_mlp)
        for name in ("skip_first_layers", "skip_last_layers"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 0)
        self._retire_scope()
        _check_choice("gqa_mode", self.gqa_mode, GQA_MODES)
        _check_int("min_units_per_layer", self.min_units_per_layer, 1)
        for name in ("calibration_data", "selection_data"):
            _check_text(name, getattr(self, name))
        _check_int("selection_samples", self.selection_samples, 1)
        _check_bool("choose_plan", self.choose_plan)
        _check_int("num_calibration_samples", self.num_calibration_samples, 1)
        _check_int("calibration_seq_len", self.calibration_seq_len, 2)
        _check_int("seed", self.seed, 0)
        if self.allocation is not None:
            _check_choice("allocation", self.allocation, ALLOCATIONS.names())
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_fraction("fusion_alpha", self.fusion_alpha)
        _check_choice("coarse", self.coarse, COARSE_READINGS)
        _check_choice("taylor_order", self.taylor_order, (1, 2))
        _check_choice("score_normalization", self.score_normalization, NORMALIZATIONS)
        for name in ("fusion_steps", "fusion_holdout_samples"):
            _check_int(name, getattr(self, name), 0)
        for name in ("fusion_batch_size", "fusion_eval_every"):
            _check_int(name, getattr(self, name), 1)
        if self.fusion_seq_len is not None:
            _check_int("fusion_seq_len", self.fusion_seq_len, 2)
        if self.fusion_autocast is not None:
            _check_choice("fusion_autocast", self.fusion_autocast, AUTOCAST_DTYPES)
        for name in ("fusion_lr", "temperature_start", "temperature_end"):
            _check_positive(name, getattr(self, name))
        for name in ("budget_penalty", "kl_weight"):
            _check_positive(name, getattr(self, name), allow_zero=True)
        _check_int("round_to", self.round_to, 1)
        if self.target is not None:
            _check_choice("target", self.target, tuple(TARGET_ROUND_TO))
            if self.round_to == 1:
                self.round_to = TARGET_ROUND_TO[self.target]
        _check_choice("statistics_dtype", self.statistics_dtype, STATISTICS_DTYPES)
        _check_choice("statistics_pass", self.statistics_pass, STATISTICS_PASSES)
        _check_bool("gradient_checkpointing", self.gradient_checkpointing)
        for name in ("gradient_micro_batch", "layers_per_pass"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        self._check_combinations()

    def _check_combinations(self) -> None:
        """Values that are each fine but cannot work together: found here, not after the gradient pass."""
        learned_fusion = self._learns_allocation()
        # the registry holds the criterion object; asking it needs no import of the scoring stack
        gives_removal = IMPORTANCES.get(self.importance).gives_removal(self)
        if self.allocation == "learned" and gives_removal is False:
            raise ConfigError(
                f"`allocation='learned'` uses the blend the HyWIA fusion learns, so it needs `importance='hywia'` and "
                f"`fusion='attention'` (got importance={self.importance!r}, fusion={self.fusion!r}). Use another "
                "allocation (`available_allocations()`) or the hywia criterion."
            )
        shared = shared_builtin_files(self.selection_data, self.calibration_data)
        if self.selection_data == self.calibration_data or shared:
            raise ConfigError(
                f"`selection_data` ({self.selection_data!r}) must be a text apart from `calibration_data` "
                f"({self.calibration_data!r}){f' (both read {sorted(shared)})' if shared else ''}: its windows judge "
                "the fusion on text the statistics never saw. Use e.g. 'builtin:validation'."
            )
        if self.temperature_start < self.temperature_end:
            raise ConfigError(
                f"`temperature_start` ({self.temperature_start}) must be >= `temperature_end` "
                f"({self.temperature_end}): the soft masks are annealed from soft to hard. Swap them."
            )
        if learned_fusion and self.fusion_holdout_samples >= self.num_calibration_samples:
            raise ConfigError(
                f"`fusion_holdout_samples` ({self.fusion_holdout_samples}) must be smaller than "
                f"`num_calibration_samples` ({self.num_calibration_samples}), or no window is left to train the "
                "fusion on. Lower it (0 turns the hold-out off) or raise `num_calibration_samples`."
            )

    def _learns_allocation(self) -> bool:
        return self.importance == "hywia" and self.fusion == "attention"

    def _retire_scope(self) -> None:
        """Move a value of the retired `scope` to `allocation`, where it used to take effect."""
        if self.scope is None:
            return
        _check_choice("scope", self.scope, SCOPES)
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
        return dataclasses.asdict(self)

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown and written_by and written_by != __version__:
            warnings.warn(f"Ignoring {unknown}: written by optimum-hywia {written_by}, this is {__version__}.")
            values = {key: value for key, value in values.items() if key in known}
        elif unknown:
            raise ConfigError(f"Unknown HyWIAConfig fields {unknown}; known fields: {sorted(known)}.")
        return cls(**values)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "HyWIAConfig":
        """Read a config from a folder holding `hywia_config.json` (or from that file itself)."""
        path = Path(path)
        file = path / CONFIG_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"No {CONFIG_NAME} at {path}.")
        return cls.from_dict(json.loads(file.read_text()))
