"""One evaluation run over zero-shot tasks and perplexity sets, as rows for tables, JSON files and model cards.

A task list mixes zero-shot task names (see :mod:`optimum_hywia.evaluation.zero_shot`) and perplexity entries:
``ppl`` (the default held-out text, ``builtin:prideprejudice``) or ``ppl:<source>`` where ``<source>`` is a name of
:data:`~optimum_hywia.evaluation.ppl_sets.PPL_SETS` (``wikitext2``, ``ptb``, ``prideprejudice``, ``jargon``) or
anything :func:`optimum_hywia.data.load_text` accepts (``builtin:jargon``, ``notes.txt``, ``hub:...``).

Each result row is ``{"task", "metric", "value", "stderr", "dataset", "n"}``; accuracies are fractions. With two or
more zero-shot tasks a row with task ``"mean"`` follows them: their mean accuracy, as the paper reports it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .perplexity import perplexity_report
from .ppl_sets import DEFAULT_PPL_SOURCE, describe_ppl_source, load_ppl_text

PPL_PREFIX = "ppl"
DEFAULT_TASKS = ("austen_lastword", "austen_nextsentence", "austen_names", "jargon_nextsentence", "austen_wordorder",
                 "jargon_wordorder", "ppl")
MEAN_TASK = "mean"
RESULTS_FORMAT_VERSION = 1


def parse_tasks(tasks: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a task list into zero-shot task names and perplexity sources.

    Example:
        >>> parse_tasks("austen_lastword,ppl,ppl:builtin:jargon")
        (['austen_lastword'], ['builtin:prideprejudice', 'builtin:jargon'])
    """
    items = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise ValueError(f"No task given; for example: {','.join(DEFAULT_TASKS)}.")
    zero_shot_names, ppl_sources = [], []
    for item in items:
        if item == PPL_PREFIX:
            ppl_sources.append(DEFAULT_PPL_SOURCE)
        elif item.startswith(PPL_PREFIX + ":"):
            source = item[len(PPL_PREFIX) + 1 :]
            if not source:
                raise ValueError(f"Empty perplexity source in {item!r}; write e.g. 'ppl:builtin:jargon'.")
            ppl_sources.append(source)
        else:
            zero_shot_names.append(item)
    return zero_shot_names, ppl_sources


def zero_shot_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from :func:`~optimum_hywia.evaluation.zero_shot` results (the paper's metric of each task)."""
    return [
        {"task": name, "metric": r["metric"], "value": r["value"], "stderr": r["stderr"], "dataset": r["dataset"],
         "n": r["n_samples"]}
        for name, r in results.items()
    ]


def mean_accuracy(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The mean over tasks of the accuracy rows (``acc``/``acc_norm``), as the paper reports it; ``None`` if fewer
    than two. Its ``stderr`` is that of a mean of independent estimates: sqrt(sum of squared stderrs) / k.

    Example:
        >>> rows = [{"task": "a", "metric": "acc", "value": 0.4, "stderr": 0.03, "dataset": "x", "n": 100},
        ...         {"task": "b", "metric": "acc_norm", "value": 0.6, "stderr": 0.04, "dataset": "y", "n": 100}]
        >>> row = mean_accuracy(rows)
        >>> round(row["value"], 3), round(row["stderr"], 3), row["dataset"]
        (0.5, 0.025, 'mean of 2 tasks: a, b')
    """
    scored = [r for r in rows if r["task"] != MEAN_TASK and r["metric"].startswith("acc") and r["value"] is not None]
    if len(scored) < 2:
        return None
    k = len(scored)
    stderrs = [r["stderr"] for r in scored]
    stderr = None if None in stderrs else math.sqrt(sum(s * s for s in stderrs)) / k
    return {"task": MEAN_TASK, "metric": "acc", "value": sum(r["value"] for r in scored) / k, "stderr": stderr,
            "dataset": f"mean of {k} tasks: {', '.join(r['task'] for r in scored)}", "n": sum(r["n"] for r in scored)}


def perplexity_row(model: Any, tokenizer: Any, source: str, text: str | None = None, seq_len: int = 128,
                   max_windows: int | None = None, batch_size: int = 8) -> dict[str, Any]:
    """Perplexity of ``model`` on one source (its ``text`` when already loaded), as a row (``n`` = windows)."""
    text = load_ppl_text(source) if text is None else text
    report = perplexity_report(model, tokenizer, text=text, seq_len=seq_len, max_windows=max_windows,
                               batch_size=batch_size)
    return {"task": "perplexity", "metric": f"ppl@{seq_len}", "value": report["ppl"], "stderr": None,
            "dataset": describe_ppl_source(source), "n": report["n_windows"]}


@dataclass
class EvalPlan:
    """What an evaluation will run, checked and with its texts loaded before any model is.

    Example:
        >>> plan = EvalPlan.from_tasks("austen_lastword,ppl:jargon")
        >>> plan.zero_shot_tasks, list(plan.ppl_texts)
        (['austen_lastword'], ['jargon'])
    """

    zero_shot_tasks: list[str]
    ppl_texts: dict[str, str] = field(default_factory=dict)  # source -> text

    @classmethod
    def from_tasks(cls, tasks: str | Sequence[str]) -> EvalPlan:
        """Parse and check ``tasks``; Hub sets are fetched now, so offline they fail before a model is loaded."""
        zero_shot_names, ppl_sources = parse_tasks(tasks)
        if zero_shot_names:
            from .zero_shot import check_task_names

            zero_shot_names = check_task_names(zero_shot_names)
        duplicates = sorted({s for s in ppl_sources if ppl_sources.count(s) > 1})
        if duplicates:
            raise ValueError(f"Perplexity source(s) given more than once: {duplicates}.")
        return cls(zero_shot_names, {source: load_ppl_text(source) for source in ppl_sources})

    def run(self, model: Any, tokenizer: Any, limit: int | None = None, batch_size: int = 8, seq_len: int = 128,
            ppl_windows: int | None = None, split: str = "test", precision: str = "auto") -> list[dict[str, Any]]:
        """Evaluate ``model``: the zero-shot tasks first (``limit`` items each of the offline tasks' ``split``) and,
        with two or more, their mean (:func:`mean_accuracy`, a row with task ``"mean"``), then each perplexity set."""
        rows = []
        if self.zero_shot_tasks:
            from .zero_shot import zero_shot

            _say(f"zero-shot ({split} split): {', '.join(self.zero_shot_tasks)}"
                 + (f" (first {limit} items each)" if limit else ""))
            results = zero_shot(model, tokenizer, self.zero_shot_tasks, limit=limit, batch_size=batch_size,
                                split=split, precision=precision)
            rows += zero_shot_rows(results)
            mean = mean_accuracy(rows)
            rows += [mean] if mean is not None else []
        for source, text in self.ppl_texts.items():
            _say(f"perplexity: {describe_ppl_source(source)}, {seq_len}-token windows")
            rows.append(perplexity_row(model, tokenizer, source, text, seq_len, ppl_windows, batch_size))
        return rows


def evaluate_model(
    model: Any,
    tokenizer: Any,
    tasks: str | Sequence[str] = DEFAULT_TASKS,
    limit: int | None = None,
    batch_size: int = 8,
    seq_len: int = 128,
    ppl_windows: int | None = None,
    split: str = "test",
) -> list[dict[str, Any]]:
    """Run every zero-shot task and perplexity set of ``tasks`` (the offline tasks' ``split`` items); returns the
    result rows.

    Example:
        >>> rows = evaluate_model(model, tokenizer, "austen_lastword,ppl:jargon", limit=100)  # doctest: +SKIP
        >>> print(results_table(rows))                                                      # doctest: +SKIP
    """
    return EvalPlan.from_tasks(tasks).run(model, tokenizer, limit, batch_size, seq_len, ppl_windows, split)


def _say(message: str) -> None:
    print(f"[hywia eval] {message}", file=sys.stderr, flush=True)


def _format_value(row: dict[str, Any]) -> tuple[str, str]:
    value, stderr = row["value"], row["stderr"]
    if value is None:
        return "-", "-"
    if row["metric"].startswith("acc"):
        return f"{100 * value:.2f}", "-" if stderr is None else f"{100 * stderr:.2f}"
    return f"{value:.2f}", "-" if stderr is None else f"{stderr:.2f}"


def results_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of result rows (accuracies in percent).

    Example:
        >>> print(results_table([{"task": "t", "metric": "acc", "value": 0.5, "stderr": 0.1, "dataset": "d", "n": 9}]))
        | task | metric | value | ± stderr | n | dataset |
        |---|---|---|---|---|---|
        | t | acc | 50.00 | 10.00 | 9 | d |
    """
    lines = ["| task | metric | value | ± stderr | n | dataset |", "|---|---|---|---|---|---|"]
    for row in rows:
        value, stderr = _format_value(row)
        lines.append(f"| {row['task']} | {row['metric']} | {value} | {stderr} | {row['n']} | {row['dataset']} |")
    return "\n".join(lines)


def save_results(path: str | os.PathLike, rows: list[dict[str, Any]], **settings: Any) -> Path:
    """Write ``{"format_version", "settings", "results": rows}`` as JSON (``settings``: model id, limit, ...)."""
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": RESULTS_FORMAT_VERSION, "settings": settings, "results": rows}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def load_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The result rows of a file written by :func:`save_results` (or a bare JSON list of rows).

    Example:
        >>> rows = load_results("results.json")  # doctest: +SKIP
    """
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = payload["results"] if isinstance(payload, dict) else payload
    missing = [key for key in ("task", "metric", "value", "stderr", "dataset") if rows and key not in rows[0]]
    if not isinstance(rows, list) or missing:
        raise ValueError(f"{str(path)!r} is not an evaluation results file (missing keys: {missing}).")
    return rows
