"""The sections of `HyWIAConfig`: the HyWIA fusion, the calibration text, the memory of the gradient pass.

Each section is a dataclass that checks its own values. `HyWIAConfig` holds one of each (`config.fusion.steps`);
the CLI and `hywia_config.json` spell their fields flat (`fusion_steps`, each field's `metadata["flat"]`), and
`HyWIAConfig(fusion_steps=16)` is accepted as the same as `HyWIAConfig(fusion=FusionConfig(steps=16))`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .config_fields import (
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_optional_int,
    check_positive,
    check_text,
    option,
)
from .errors import ConfigError
from .text_sources import shared_builtin_files

FUSIONS = ("attention", "fixed")
AUTOCAST_DTYPES = ("auto", "bfloat16", "float16", "float32")
STATISTICS_DTYPES = ("float32", "bfloat16")
STATISTICS_PASSES = ("streamed", "buffered")


def flat_name(section: type, name: str) -> str:
    """The flat name (CLI, recipe) of a section's field: `flat_name(FusionConfig, "steps")` is `fusion_steps`."""
    return next(f.metadata["flat"] for f in dataclasses.fields(section) if f.name == name)


class Section:
    """What the sections share: checks that report the flat name, and the flat dict the recipe holds."""

    def _flat(self, name: str) -> str:
        return flat_name(type(self), name)

    def to_flat_dict(self) -> dict[str, Any]:
        """The fields under their flat names (`{"fusion_steps": 8, ...}`)."""
        return {f.metadata["flat"]: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class FusionConfig(Section):
    """How HyWIA learns the blend of fine and coarse importance (only `importance="hywia"` reads it).

    Example:
        >>> from optimum_hywia import FusionConfig, HyWIAConfig
        >>> HyWIAConfig(fusion=FusionConfig(steps=16)).fusion.steps
        16
    """

    mode: str = option("attention", "hywia: `attention` (blend learned end to end) or `fixed` (blend = fusion_alpha).",
                       flat="fusion")
    alpha: float = option(0.5, "Fixed fusion: weight of the fine-grained score.", flat="fusion_alpha")
    steps: int = option(8, "Training steps of the fusion attention.", flat="fusion_steps")
    lr: float = option(0.05, "Adam learning rate of the fusion attention.", flat="fusion_lr")
    batch_size: int = option(2, "Calibration windows per fusion step.", flat="fusion_batch_size")
    seq_len: int | None = option(
        64,
        "Tokens per fusion window: calibration windows are cut into pieces of this length "
        "(None: whole windows). The fusion's cost grows with the tokens it runs.", flat="fusion_seq_len")
    holdout_samples: int = option(
        4,
        "Only without `selection_data` windows (token ids given without a tokenizer, the callback): "
        "calibration windows held out of fusion training to pick the step and plan (0: off).",
        flat="fusion_holdout_samples")
    choose_plan: bool = option(
        True,
        "hywia: start the fusion from the best untrained plan (the cost-aware ranking by fine "
        "score under fine or coarse selection) and, after training, score the candidate plans (those, the "
        "learned allocation under the learned blend and under the starting granularity, the cost-aware "
        "ranking under the blend) on the selection windows and ship the best (False: neither; ship the "
        "learned plan).", flat="choose_plan")
    eval_every: int = option(8, "Steps between held-out evaluations (the first and last step are always judged).",
                             flat="fusion_eval_every")
    autocast: str | None = option(
        "auto",
        "Run the fusion's and the plan pick's passes under torch.autocast in this dtype: `auto` "
        "(bfloat16 where the device has fast bfloat16 matmuls: a CUDA GPU that supports it, a CPU with "
        "AVX-512 BF16 or AMX; else the model's dtype), `bfloat16`, `float16`, or `float32` / None (the "
        "model's dtype). The calibration gradients are never autocast.", flat="fusion_autocast")
    temperature_start: float = option(0.1, "Soft-mask temperature at the first step.", flat="temperature_start")
    temperature_end: float = option(0.005, "Soft-mask temperature at the last step.", flat="temperature_end")
    budget_penalty: float = option(10.0, "λ of the (mean mask − keep ratio)² penalty.", flat="budget_penalty")
    kl_weight: float = option(0.0, "Weight of the KL term to the dense model's logits.", flat="kl_weight")

    def __post_init__(self) -> None:
        check_choice(self._flat("mode"), self.mode, FUSIONS)
        check_fraction(self._flat("alpha"), self.alpha)
        for name, minimum in (("steps", 0), ("holdout_samples", 0), ("batch_size", 1), ("eval_every", 1)):
            check_int(self._flat(name), getattr(self, name), minimum)
        check_optional_int(self._flat("seq_len"), self.seq_len, 2)
        check_bool(self._flat("choose_plan"), self.choose_plan)
        if self.autocast is not None:
            check_choice(self._flat("autocast"), self.autocast, AUTOCAST_DTYPES)
        for name in ("lr", "temperature_start", "temperature_end"):
            check_positive(self._flat(name), getattr(self, name))
        for name in ("budget_penalty", "kl_weight"):
            check_positive(self._flat(name), getattr(self, name), allow_zero=True)
        if self.temperature_start < self.temperature_end:
            raise ConfigError(
                f"`temperature_start` ({self.temperature_start}) must be >= `temperature_end` "
                f"({self.temperature_end}): the soft masks are annealed from soft to hard. Swap them."
            )


@dataclass
class CalibrationConfig(Section):
    """The text importance is measured on, and the separate text HyWIA picks its step and plan on.

    Example:
        >>> from optimum_hywia import CalibrationConfig, HyWIAConfig
        >>> HyWIAConfig(calibration=CalibrationConfig(data="builtin:mixed", num_samples=32)).calibration.num_samples
        32
    """

    data: str = option(
        "builtin:austen",
        "Calibration text: `builtin:<name>`, a text file, a saved `datasets` folder or a Hub dataset name.",
        flat="calibration_data")
    num_samples: int = option(16, "Number of calibration windows.", flat="num_calibration_samples")
    seq_len: int = option(128, "Tokens per calibration window.", flat="calibration_seq_len")
    selection_data: str = option(
        "builtin:validation",
        "hywia: text of the windows that pick the fusion's step and the shipped plan, never used for "
        "statistics or training; must differ from `calibration_data` (default: Sense and Sensibility + a "
        "Jargon File slice kept apart from the calibration and evaluation texts).", flat="selection_data")
    selection_samples: int = option(
        16,
        "hywia: windows drawn from `selection_data`, of `fusion_seq_len` tokens (at most "
        "`calibration_seq_len`). Fewer make the pick noisy: with 4 windows of 128 tokens it shipped plans "
        "worse on held-out text than the best candidate.", flat="selection_samples")

    def __post_init__(self) -> None:
        for name in ("data", "selection_data"):
            check_text(self._flat(name), getattr(self, name))
        check_int(self._flat("selection_samples"), self.selection_samples, 1)
        check_int(self._flat("num_samples"), self.num_samples, 1)
        check_int(self._flat("seq_len"), self.seq_len, 2)
        shared = shared_builtin_files(self.selection_data, self.data)
        if self.selection_data == self.data or shared:
            raise ConfigError(
                f"`selection_data` ({self.selection_data!r}) must be a text apart from `calibration_data` "
                f"({self.data!r}){f' (both read {sorted(shared)})' if shared else ''}: its windows judge "
                "the fusion on text the statistics never saw. Use e.g. 'builtin:validation'."
            )


@dataclass
class MemoryConfig(Section):
    """How the calibration gradients are gathered, traded between memory and time.

    Example:
        >>> from optimum_hywia import HyWIAConfig, MemoryConfig
        >>> HyWIAConfig(memory=MemoryConfig(statistics_pass="buffered", layers_per_pass=4)).memory.layers_per_pass
        4
    """

    statistics_dtype: str = option(
        "float32",
        "dtype of the per-weight gradient buffers of the Taylor statistics: `float32` or "
        "`bfloat16` (half the memory; per-unit sums stay float64).", flat="statistics_dtype")
    statistics_pass: str = option(
        "streamed",
        "How first-order Taylor statistics are gathered: `streamed` (one backward pass over all "
        "calibration windows, layers checkpointed, each gradient reduced to per-unit statistics at once: "
        "memory about the weights plus one layer) or `buffered` (a backward pass per batch into per-weight "
        "gradient sums: the options below apply). Second-order statistics are always buffered.",
        flat="statistics_pass")
    gradient_checkpointing: bool = option(
        False,
        "Recompute activations in the backward pass of the calibration gradients (less memory, "
        "about one more forward pass of time).", flat="gradient_checkpointing")
    gradient_micro_batch: int | None = option(
        None,
        "Sequences per backward pass of the calibration gradients (None: whole batches). Smaller: "
        "fewer activations in memory at once, the same gradients.", flat="gradient_micro_batch")
    layers_per_pass: int | None = option(
        None,
        "Gradient statistics for this many pruned layers per pass over the calibration data "
        "(None: all at once). Bounds gradient memory to that many layers, at one pass per chunk.",
        flat="layers_per_pass")

    def __post_init__(self) -> None:
        check_choice(self._flat("statistics_dtype"), self.statistics_dtype, STATISTICS_DTYPES)
        check_choice(self._flat("statistics_pass"), self.statistics_pass, STATISTICS_PASSES)
        check_bool(self._flat("gradient_checkpointing"), self.gradient_checkpointing)
        for name in ("gradient_micro_batch", "layers_per_pass"):
            check_optional_int(self._flat(name), getattr(self, name), 1)


SECTIONS: dict[str, type[Section]] = {"fusion": FusionConfig, "calibration": CalibrationConfig, "memory": MemoryConfig}
# flat name (CLI, recipe) -> (section, field)
FLAT_NAMES: dict[str, tuple[str, str]] = {
    f.metadata["flat"]: (section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
}
