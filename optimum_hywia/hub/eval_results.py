"""Evaluation results for a model card: from `hywia prune`'s `hywia_results.json` or a list of plain dicts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable

from huggingface_hub import EvalResult

REQUIRED_KEYS = ("task", "metric", "value", "dataset")
EvalResultsInput = str | os.PathLike | dict | Iterable[Any] | None


@dataclass
class EvalEntry:
    """One measured number of the pruned model (and, when known, of its dense base model).

    `task` is the evaluation's name (`wikitext`, `boolq`, ...), `task_type` the Hub task it belongs to; the rows
    `hywia eval` writes (`task`, `metric`, `value`, `stderr`, `dataset`, `n`) are accepted as they are.

    Example:
        >>> entry = EvalEntry(task="boolq", metric="acc", value=0.62, dataset="boolq")
        >>> entry.to_eval_result().metric_value
        0.62
    """

    task: str
    metric: str
    value: float
    dataset: str
    dataset_type: str | None = None
    task_type: str = "text-generation"
    baseline: float | None = None
    stderr: float | None = None
    n: int | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        for name in ("task", "metric", "dataset", "task_type"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"Eval result `{name}` must be a non-empty string, got {getattr(self, name)!r}.")
        for name in ("value", "baseline", "stderr"):
            value = getattr(self, name)
            if (value is not None or name == "value") and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ValueError(f"Eval result `{name}` must be a number, got {value!r} (task {self.task!r}).")

    def to_eval_result(self) -> EvalResult:
        """The huggingface_hub `EvalResult` that becomes one `model-index` entry."""
        return EvalResult(
            task_type=self.task_type,
            task_name=self.task,
            dataset_type=self.dataset_type or self.dataset,
            dataset_name=self.dataset,
            metric_type=self.metric,
            metric_value=self.value,
        )


def entry_from_dict(item: dict[str, Any]) -> EvalEntry:
    """An EvalEntry from `{task, metric, value, dataset}` and optional keys (`stderr`, `n`, `baseline`, ...)."""
    allowed = [f.name for f in fields(EvalEntry)]
    if not isinstance(item, dict):
        raise ValueError(f"Each eval result must be a dict with keys {list(REQUIRED_KEYS)}, got {item!r}.")
    missing = [key for key in REQUIRED_KEYS if key not in item]
    unknown = sorted(set(item) - set(allowed))
    if missing or unknown:
        raise ValueError(
            f"Eval result {item!r} has missing keys {missing} / unknown keys {unknown}; required: "
            f"{list(REQUIRED_KEYS)}, allowed: {allowed}."
        )
    return EvalEntry(**item)


def entries_from_prune_results(results: dict[str, Any]) -> list[EvalEntry]:
    """The perplexity that `hywia prune` measured (pruned model, dense as baseline); empty when it was skipped."""
    pruned = (results.get("pruned") or {}).get("perplexity")
    if pruned is None:
        return []
    dataset = str(results.get("eval_data") or "unknown")
    windows = results.get("eval_windows")
    return [
        EvalEntry(
            task="perplexity",
            metric="perplexity",
            value=float(pruned),
            dataset=dataset,
            baseline=(results.get("dense") or {}).get("perplexity"),
            notes=f"{windows} windows of 128 tokens" if windows else None,
        )
    ]


def load_eval_results(source: EvalResultsInput) -> list[EvalEntry]:
    """Normalise eval results: None, a JSON file, `hywia_results.json` content (`hywia prune`), `{"results": [...]}`
    (`hywia eval --output`), or a list of dicts / EvalEntry.

    Example:
        >>> rows = [{"task": "wikitext", "metric": "perplexity", "value": 21.4, "dataset": "wikitext"}]
        >>> load_eval_results(rows)[0].task
        'wikitext'
    """
    if source is None:
        return []
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"Eval results file {str(path)!r} does not exist.")
        source = json.loads(path.read_text())
    if isinstance(source, dict):
        if "pruned" in source:
            return entries_from_prune_results(source)
        if isinstance(source.get("results"), list):
            source = source["results"]
        else:
            raise ValueError(
                f"Eval results dict has keys {sorted(source)}; expected `hywia_results.json` content (with `pruned`) "
                "or `{'results': [...]}`."
            )
    return [item if isinstance(item, EvalEntry) else entry_from_dict(item) for item in source]
