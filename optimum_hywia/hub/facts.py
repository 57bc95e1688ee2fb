"""PruningFacts: what a model card says about a pruned model, read from its config, recipe and results."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configuration import CONFIG_NAME
from ..modeling import WIDTH_KEYS
from ..modeling.convert import PRUNED_PREFIX

RESULTS_NAME = "hywia_results.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_model_id(name: str | None) -> str | None:
    """`name` when it reads as a Hub model id (`namespace/name`, not a local path), else None.

    Example:
        >>> hub_model_id("HuggingFaceTB/SmolLM2-135M"), hub_model_id("/tmp/model"), hub_model_id("builtin:x")
        ('HuggingFaceTB/SmolLM2-135M', None, None)
    """
    if not name or not _HUB_ID.match(name) or ".." in name or os.path.exists(name):
        return None
    return name


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def width_keys(layer_widths: list[dict]) -> list[str]:
    """The numeric widths a family records per layer, known ones first (lists such as Bloom's `kept_heads` skipped)."""
    first = layer_widths[0] if layer_widths else {}
    numeric = [key for key, value in first.items() if isinstance(value, int) and not isinstance(value, bool)]
    return [key for key in WIDTH_KEYS if key in numeric] + [key for key in numeric if key not in WIDTH_KEYS]


@dataclass
class PruningFacts:
    """The numbers and settings of one pruned model, as the model card reports them.

    Example:
        >>> facts = PruningFacts.from_folder("smollm2-pruned")  # doctest: +SKIP
        >>> facts.layer_widths[0]["intermediate_size"]  # doctest: +SKIP
        1536
    """

    family: str
    layer_widths: list[dict]
    dense_widths: list[dict] | None
    pruned_layers: list[int]
    params_before: int | None
    params_after: int | None
    method: dict[str, Any]
    base_model: str | None
    base_model_source: str | None
    original_architecture: bool
    learned_blend: Any = None
    remote_code_file: str | None = None
    recipe: dict | None = None
    results: dict | None = field(default=None, repr=False)
    recovery: dict | None = None  # how the pruned model was trained afterwards (method, steps, tokens, teacher...)
    plan_choice: dict | None = None  # HyWIA: the candidate plans, their loss on the selection windows, the one shipped

    @property
    def kept_fraction(self) -> float | None:
        if not self.params_before or self.params_after is None:
            return None
        return self.params_after / self.params_before

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        recipe: dict | None = None,
        results: dict | None = None,
        base_model: str | None = None,
    ) -> "PruningFacts":
        """Facts from a `config.json` dict (pruned-model type or original architecture), plus what is known besides.

        `recipe` is the `hywia_config.json` content, `results` the `hywia_results.json` content written by
        `hywia prune`; `base_model` overrides the base model recorded in the config.
        """
        hywia = config.get("hywia") or {}
        summary = (results or {}).get("summary") or {}
        model_type = config.get("model_type", "")
        widths = config.get("layer_widths")
        original = widths is None
        if original:  # saved as the plain family: every layer has the config's widths
            widths = [_config_widths(config, WIDTH_KEYS)] * int(_config_value(config, "num_hidden_layers"))
            dense = hywia.get("widths_before") or summary.get("widths_before")
        else:  # the pruned-model type carries the dense widths at the top level of its config
            dense = hywia.get("widths_before") or [_config_widths(config, widths[0])] * len(widths)
        source = base_model or hywia.get("base_model") or (results or {}).get("model")
        return cls(
            family=model_type.removeprefix(PRUNED_PREFIX),
            layer_widths=[dict(w) for w in widths],
            dense_widths=[dict(w) for w in dense] if dense else None,
            pruned_layers=list(hywia.get("pruned_layers") or summary.get("pruned_layers") or []),
            params_before=hywia.get("params_before", summary.get("params_before")),
            params_after=hywia.get("params_after", summary.get("params_after")),
            method=_method(hywia, recipe),
            base_model=hub_model_id(source),
            base_model_source=source,
            original_architecture=original,
            learned_blend=hywia.get("learned_blend"),
            remote_code_file=_remote_code_file(config),
            recipe=recipe,
            results=results,
            recovery=hywia.get("recovery"),
            plan_choice=hywia.get("plan_choice"),
        )

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, base_model: str | None = None) -> "PruningFacts":
        """Facts from a saved pruned model: `config.json`, and `hywia_config.json` / `hywia_results.json` if there."""
        folder = Path(folder)
        config = _read_json(folder / "config.json")
        if config is None:
            raise FileNotFoundError(f"No config.json in {folder}: expected a folder saved by optimum-hywia.")
        return cls.from_config(config, _read_json(folder / CONFIG_NAME), _read_json(folder / RESULTS_NAME), base_model)


# other names a config may use for a width (Bloom: n_head, n_layer)
_ALIASES = {"num_attention_heads": ("n_head",), "num_hidden_layers": ("n_layer",)}


def _config_value(config: dict[str, Any], key: str) -> Any:
    for name in (key, *_ALIASES.get(key, ())):
        if config.get(name) is not None:
            return config[name]
    return None


def _config_widths(config: dict[str, Any], keys: Any) -> dict[str, int]:
    """The config's value of each numeric width in `keys` that it records (a width it does not state is left out)."""
    values = {key: _config_value(config, key) for key in keys}
    return {key: value for key, value in values.items() if isinstance(value, int) and not isinstance(value, bool)}


def _remote_code_file(config: dict[str, Any]) -> str | None:
    """The modeling file `trust_remote_code=True` runs (`modeling_hywia_llama.py`, ...), from `auto_map`."""
    reference = (config.get("auto_map") or {}).get("AutoModelForCausalLM")
    if isinstance(reference, (list, tuple)):
        reference = reference[0]
    return reference.split("--")[-1].rsplit(".", 1)[0] + ".py" if isinstance(reference, str) else None


def _method(hywia: dict, recipe: dict | None) -> dict[str, Any]:
    """How the model was pruned: the config's `hywia` block, completed by the recipe where the block is silent."""
    keys = ["importance", "pruning_ratio", "scope", "allocation", "gqa_mode", "target", "round_to",
            "optimum_hywia_version"]
    recipe = recipe or {}
    if hywia.get("importance", recipe.get("importance")) == "hywia":
        keys[1:1] = ["fusion", "taylor_order"]
    method = {key: hywia.get(key, recipe.get(key)) for key in keys}
    return {key: value for key, value in method.items() if value is not None}
