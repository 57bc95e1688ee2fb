"""The model card of a pruned model: Hub metadata (base model, tags, `model-index`) and a body that says what was
removed, how it measured, and how to load it with or without optimum-hywia."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from ..training.distillation import describe
from ..version import __version__
from .eval_results import EvalEntry
from .facts import PruningFacts, width_keys
from .plot import PLOT_NAME, plot_layer_widths

CARD_TAGS = ("pruned", "structured-pruning", "hywia", "optimum")
RELATION_NOTE = ("\n\nThe Hub has no \"pruned\" base-model relation; the metadata says `finetune` and carries the "
                 "`pruned` and `structured-pruning` tags.")
WIDTH_LABELS = {"num_attention_heads": "heads", "num_key_value_heads": "KV heads", "intermediate_size": "MLP channels"}
_LABELS = {"importance": "importance criterion", "pruning_ratio": "pruning ratio",
           "gqa_mode": "GQA unit", "optimum_hywia_version": "optimum-hywia version"}


def card_tags(facts: PruningFacts, extra_tags: Any = ()) -> list[str]:
    """The card's tags: ours, the model family, then `extra_tags` (e.g. `model.model_tags`), each once."""
    tags = [*CARD_TAGS, facts.family] if facts.family else list(CARD_TAGS)
    return list(dict.fromkeys([*tags, *(extra_tags or ())]))


def card_metadata(
    facts: PruningFacts, entries: list[EvalEntry], model_name: str, license: str | None = None, extra_tags: Any = ()
) -> ModelCardData:
    """YAML metadata: `base_model` + `base_model_relation: finetune` (the Hub has no "pruned" relation), tags,
    `model-index` from `entries`."""
    return ModelCardData(
        base_model=facts.base_model,
        base_model_relation="finetune" if facts.base_model else None,
        library_name="transformers",
        pipeline_tag="text-generation",
        license=license,
        tags=card_tags(facts, extra_tags),
        model_name=model_name if entries else None,
        eval_results=[entry.to_eval_result() for entry in entries] or None,
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _source_label(facts: PruningFacts) -> str | None:
    """The base model as the card may name it: a Hub or `builtin:` id, or a local checkpoint's folder name only
    (a local path says nothing to readers and may say too much about the machine)."""
    source = facts.base_model or facts.base_model_source
    if not source or facts.base_model or source.startswith("builtin:"):
        return source
    return f"{Path(source).name} (a local checkpoint)"


def _intro(facts: PruningFacts, model_name: str) -> str:
    label = _source_label(facts)
    base = f"[{facts.base_model}](https://huggingface.co/{facts.base_model})" if facts.base_model else (
        f"`{label}`" if label else "A causal language model"
    )
    version = facts.method.get("optimum_hywia_version", __version__)
    return (
        f"# {model_name}\n\n{base} ({facts.family} family) structurally pruned with **HyWIA** (hybrid-grained weight "
        f"importance) using optimum-hywia {version}: whole attention heads / key-value groups and MLP channels were "
        "removed, so the model is smaller and faster, not merely sparse."
    ) + (RELATION_NOTE if facts.base_model else "")


def _pruning_section(facts: PruningFacts) -> str:
    rows = [(_LABELS.get(key, key.replace("_", " ")), f"`{value}`") for key, value in facts.method.items()]
    layers = len(facts.layer_widths)
    if facts.pruned_layers:
        rows.append(("pruned layers", f"{len(facts.pruned_layers)} of {layers}: {facts.pruned_layers}"))
    if facts.params_before is not None and facts.params_after is not None:
        kept = f" ({100 * facts.kept_fraction:.1f}% kept)" if facts.kept_fraction is not None else ""
        rows.append(("parameters", f"{facts.params_before:,} → {facts.params_after:,}{kept}"))
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return f"## Pruning\n\n| setting | value |\n|---|---|\n{table}"


def _width_cell(before: dict | None, after: dict, key: str) -> str:
    if before is None or before.get(key) in (None, after[key]):
        return str(after[key])
    return f"{before[key]} → {after[key]}"


def _widths_section(facts: PruningFacts, plot: str | None) -> str:
    keys = width_keys(facts.layer_widths)
    header = "| layer | pruned | " + " | ".join(WIDTH_LABELS.get(key, key) for key in keys) + " |"
    rule = "|---|---|" + "---|" * len(keys)
    rows = []
    for index, after in enumerate(facts.layer_widths):
        before = facts.dense_widths[index] if facts.dense_widths else None
        cells = " | ".join(_width_cell(before, after, key) for key in keys)
        rows.append(f"| {index} | {'yes' if index in facts.pruned_layers else 'no'} | {cells} |")
    image = f"![Widths kept per layer]({plot})\n\n" if plot else ""
    note = "" if facts.dense_widths else "Dense widths are not recorded for this model; kept widths only.\n\n"
    return "## Widths kept per layer\n\n" + image + note + "\n".join([header, rule, *rows])


def _layer_order(key: str) -> tuple:
    head, _, rest = str(key).partition(".")
    return (int(head), rest) if head.isdigit() else (1 << 30, str(key))


def _blend_section(blend: Any) -> str | None:
    """The blend the fusion attention learned, per (layer, unit kind): mean weight of each granularity."""
    if not blend:
        return None
    intro = "## Blend learned by the fusion attention\n\nMean weights per (layer, unit kind):\n\n"
    if not isinstance(blend, dict) or not all(isinstance(v, dict) for v in blend.values()):
        return intro + "```json\n" + json.dumps(blend, indent=1, sort_keys=True) + "\n```"
    columns = sorted({column for values in blend.values() for column in values})
    lines = ["| layer.kind | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key in sorted(blend, key=_layer_order):
        lines.append(f"| {key} | " + " | ".join(_number(blend[key].get(c, "")) for c in columns) + " |")
    return intro + "\n".join(lines)


def _evaluation_section(entries: list[EvalEntry]) -> str:
    if not entries:
        return "## Evaluation\n\nNo evaluation results were recorded with this pruned model."
    lines = ["| task | dataset | metric | this model | dense base model | notes |", "|---|---|---|---|---|---|"]
    for e in entries:
        value = _number(e.value) + ("" if e.stderr is None else f" ± {_number(e.stderr)}")
        baseline = "–" if e.baseline is None else _number(e.baseline)
        notes = "; ".join(note for note in (e.notes, None if e.n is None else f"n = {e.n}") if note)
        lines.append(f"| {e.task} | {e.dataset} | {e.metric} | {value} | {baseline} | {notes} |")
    return "## Evaluation\n\n" + "\n".join(lines)


def _usage_section(facts: PruningFacts, repo_id: str) -> str:
    if facts.original_architecture:
        return (
            "## How to load\n\nEvery layer keeps the same widths, so this repo holds the plain original architecture: "
            f"transformers alone loads it.\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            f"model = AutoModelForCausalLM.from_pretrained(\"{repo_id}\")\n"
            f"tokenizer = AutoTokenizer.from_pretrained(\"{repo_id}\")\n```"
        )
    return (
        "## How to load\n\nWith optimum-hywia installed (`pip install optimum-hywia`), importing it registers the "
        "pruned-model types with transformers:\n\n```python\nimport optimum_hywia  # noqa: F401\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"model = AutoModelForCausalLM.from_pretrained(\"{repo_id}\")\n"
        f"tokenizer = AutoTokenizer.from_pretrained(\"{repo_id}\")\n```\n\nWithout optimum-hywia, the modeling code "
        f"in this repo (`{facts.remote_code_file or 'modeling_hywia_<family>.py'}` and the files it imports; torch + "
        "transformers only) builds the same model:\n\n```python\n"
        f"model = AutoModelForCausalLM.from_pretrained(\"{repo_id}\", trust_remote_code=True)\n```"
    )


def _recipe_section(facts: PruningFacts) -> str | None:
    if facts.recipe is None:
        return None
    source = facts.base_model_source or ""
    base = facts.base_model or (source if source.startswith("builtin:") else "<base model>")
    return (
        "## Recipe\n\n`hywia_config.json` holds the full pruning recipe. To prune the base model again the same way:"
        f"\n\n```bash\nhywia prune --model {base} --config hywia_config.json --output pruned\n```"
    )


def _plan_choice_section(facts: PruningFacts) -> str | None:
    choice = facts.plan_choice
    if not choice or not choice.get("candidates"):
        return None
    chosen = choice["chosen"]
    rows = "\n".join(
        f"| {c['allocation']} | {c['selection']} | {c['loss']:.4f} | {'**shipped**' if c == chosen else ''} |"
        for c in sorted(choice["candidates"], key=lambda c: c["loss"]))
    return ("## How HyWIA chose this plan\n\nEach candidate plan (an allocation and a selection within layers) was "
            f"scored by the pruned model's loss on windows of a text apart from the calibration text "
            f"(`{choice.get('windows', 'selection_data')}`); the lowest shipped.\n\n"
            f"| allocation | selection | loss | |\n|---|---|---|---|\n{rows}")


def _recovery_section(facts: PruningFacts) -> str | None:
    recovery = facts.recovery
    if not recovery:
        return None
    rows = "\n".join(f"| `{key}` | {value} |" for key, value in sorted(recovery.items()))
    return (f"## Recovery\n\nAfter pruning the model was trained again: {describe(recovery)}.\n\n"
            f"| setting | value |\n|---|---|\n{rows}")


def build_model_card(
    facts: PruningFacts,
    repo_id: str,
    eval_results: list[EvalEntry] | None = None,
    plot: str | None = PLOT_NAME,
    license: str | None = None,
    extra_tags: Any = (),
) -> ModelCard:
    """The model card of the pruned model described by `facts`, to be pushed to `repo_id`.

    Example:
        >>> card = build_model_card(PruningFacts.from_folder("pruned"), "me/pruned")  # doctest: +SKIP
        >>> card.data.tags  # doctest: +SKIP
        ['pruned', 'structured-pruning', 'hywia', 'optimum', 'llama']
    """
    entries = list(eval_results or [])
    model_name = repo_id.split("/")[-1]
    data = card_metadata(facts, entries, model_name, license, extra_tags)
    sections = [
        _intro(facts, model_name), _pruning_section(facts), _widths_section(facts, plot),
        _blend_section(facts.learned_blend), _evaluation_section(entries), _usage_section(facts, repo_id),
        _plan_choice_section(facts), _recovery_section(facts), _recipe_section(facts),
    ]
    body = "\n\n".join(section for section in sections if section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def write_model_card(
    folder: str | os.PathLike,
    facts: PruningFacts,
    repo_id: str,
    eval_results: list[EvalEntry] | None = None,
    license: str | None = None,
    extra_tags: Any = (),
) -> ModelCard:
    """Write `README.md` and, when matplotlib is installed, the widths plot into `folder`; return the card."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_layer_widths(facts, folder / PLOT_NAME)
    card = build_model_card(facts, repo_id, eval_results, PLOT_NAME if plot else None, license, extra_tags)
    card.save(folder / "README.md")
    return card
