"""Zero-shot accuracy of an in-memory model through lm-eval (``HFLM(pretrained=model, tokenizer=tokenizer)``).

Scoring goes through lm-eval's tasks and metrics; the log-likelihoods come from :class:`.packed_lm.PackedHFLM`
(``backend="packed"``, the default: each context once for all its endings, several items per pass, bfloat16 where
the hardware has it) or from lm-eval's own ``HFLM`` (``backend="lm_eval"``). Two kinds of task names are accepted:

* the offline tasks shipped with the package (:data:`OFFLINE_TASKS`, chance levels in :data:`OFFLINE_CHANCE`),
  built from test and validation Austen and Jargon File text by `tools/build_tasks.py`; each
  run scores one split of their items (:mod:`optimum_hywia.evaluation.splits`: ``test`` by default, ``validation``
  for anything that chooses);
* the paper's seven standard tasks (:data:`STANDARD_TASKS`) and any other lm-eval task name: they pass straight to
  lm-eval, which downloads their data from the Hugging Face Hub (offline they fail with one clear error).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import math
import sys
import tempfile
from collections.abc import Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from ..data.calibration import HubDatasetUnavailableError
from ..hardware import fast_bfloat16
from .task_files import to_jsonl
from .splits import TEST, check_split, split_items

# task -> the metric the paper reports (acc for BoolQ/PIQA/WinoGrande/ARC-e, acc_norm for HellaSwag/ARC-c/OBQA)
STANDARD_TASKS: dict[str, str] = {
    "boolq": "acc",
    "piqa": "acc",
    "hellaswag": "acc_norm",
    "winogrande": "acc",
    "arc_easy": "acc",
    "arc_challenge": "acc_norm",
    "openbookqa": "acc_norm",
}
OFFLINE_TASKS: dict[str, str] = {
    "austen_lastword": "acc",
    "austen_nextsentence": "acc_norm",
    "austen_names": "acc",
    "jargon_nextsentence": "acc_norm",
    "austen_wordorder": "acc",
    "jargon_wordorder": "acc",
}
# accuracy of a random guess on each offline task (last word: open vocabulary, so about zero)
OFFLINE_CHANCE: dict[str, float] = {
    "austen_lastword": 0.0,
    "austen_nextsentence": 0.25,
    "austen_names": 0.25,
    "jargon_nextsentence": 0.25,
    "austen_wordorder": 0.5,
    "jargon_wordorder": 0.5,
}
BACKENDS = ("packed", "lm_eval")
PRECISIONS = ("auto", "float32", "bfloat16")
TASK_METRICS: dict[str, str] = {**OFFLINE_TASKS, **STANDARD_TASKS}
# folders under lm_eval/tasks/ that define the standard tasks: indexing only these is ~10x faster than all of lm-eval
_STANDARD_TASK_DIRS = {
    "boolq": "super_glue/boolq",
    "piqa": "piqa",
    "hellaswag": "hellaswag",
    "winogrande": "winogrande",
    "arc_easy": "arc",
    "arc_challenge": "arc",
    "openbookqa": "openbookqa",
}
INSTALL_HINT = 'pip install "lm-eval[hf]>=0.4.8"  (or: pip install "optimum-hywia[eval]")'
logger = logging.getLogger(__name__)


def _import_lm_eval() -> Any:
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM  # noqa: F401  (needs the `hf` extra)
    except ImportError as err:
        raise ImportError(f"Zero-shot evaluation needs lm-eval with its HF backend: {INSTALL_HINT}") from err
    return lm_eval


def available_tasks() -> dict[str, str]:
    """Task names known without scanning lm-eval, with the metric reported for each.

    Example:
        >>> sorted(available_tasks())[:2]
        ['arc_challenge', 'arc_easy']
    """
    return dict(TASK_METRICS)


def write_offline_task_configs(folder: str | Path, data_dir: str | Path, split: str = TEST) -> list[Path]:
    """Write each shipped task's ``split`` items and a YAML that reads them into ``folder``.

    The shipped YAMLs name their JSONL by file name only; lm-eval (through ``datasets``) would resolve it against
    the working directory, so the copies carry absolute paths. Works for editable and regular installs alike.
    """
    import yaml

    folder, data_dir = Path(folder), Path(data_dir)
    written = []
    for name in OFFLINE_TASKS:
        config = yaml.safe_load((data_dir / f"{name}.yaml").read_text(encoding="utf-8"))
        shipped = (data_dir / config["dataset_kwargs"]["data_files"]["test"]).read_text(encoding="utf-8")
        items = split_items(name, [json.loads(line) for line in shipped.splitlines()], split)
        data = folder / f"{name}.{split}.jsonl"
        data.write_text(to_jsonl(items), encoding="utf-8")
        config["dataset_kwargs"]["data_files"] = {"test": str(data)}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def _split_names(tasks: str | Sequence[str]) -> list[str]:
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    if not names:
        raise ValueError(
            f"No task given; offline tasks: {', '.join(OFFLINE_TASKS)}; standard: {', '.join(STANDARD_TASKS)}."
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Task(s) given more than once: {duplicates}.")
    return names


@functools.lru_cache(maxsize=1)
def _all_lm_eval_task_names() -> frozenset[str]:
    from lm_eval.tasks import TaskManager

    logger.info("Indexing every lm-eval task (takes a few seconds)...")
    return frozenset(TaskManager().all_tasks)


def check_task_names(tasks: str | Sequence[str]) -> list[str]:
    """Validate zero-shot task names without running anything; returns them as a list.

    Offline and standard names are checked at once; any other name is looked up in lm-eval's whole task index
    (a few seconds). An unknown name raises a ``ValueError`` that lists the offline and standard tasks; a missing
    lm-eval raises an ``ImportError`` with the pip command.

    Example:
        >>> check_task_names("austen_lastword,arc_easy")
        ['austen_lastword', 'arc_easy']
    """
    names = _split_names(tasks)
    _import_lm_eval()  # fail now, with the pip command, rather than after a model is loaded
    others = [n for n in names if n not in TASK_METRICS]
    if others:
        unknown = [n for n in others if n not in _all_lm_eval_task_names()]
        if unknown:
            raise ValueError(
                f"Unknown task(s) {unknown}. Offline tasks shipped with optimum-hywia: {', '.join(OFFLINE_TASKS)}. "
                f"Standard tasks (lm-eval, data from the Hugging Face Hub): {', '.join(STANDARD_TASKS)}; "
                f"any other lm-eval task name works too."
            )
    return names


def _task_manager(names: list[str], offline_dir: Path) -> Any:
    """A TaskManager that knows the requested names, indexing as little of lm-eval as possible."""
    from lm_eval.tasks import TaskManager

    lm_eval_tasks = Path(_import_lm_eval().__file__).parent / "tasks"
    include = [offline_dir] + sorted({lm_eval_tasks / _STANDARD_TASK_DIRS[n] for n in names if n in STANDARD_TASKS})
    include_defaults = any(n not in TASK_METRICS for n in names)
    return TaskManager(include_path=[str(p) for p in include], include_defaults=include_defaults)


def _load_tasks(manager: Any, names: list[str]) -> dict:
    try:
        return manager.load(names)
    except OSError as err:  # ConnectionError / DatasetNotFoundError / offline mode: the Hub could not be reached
        needs_hub = [n for n in names if n not in OFFLINE_TASKS]
        raise HubDatasetUnavailableError(
            f"Task(s) {needs_hub} download their data from the Hugging Face Hub, which could not be reached "
            f"({type(err).__name__}: {err}). Offline, use the shipped tasks: {', '.join(OFFLINE_TASKS)} "
            f"(or pre-fill the datasets cache while online)."
        ) from err


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):  # lm-eval writes "N/A" when it computed no stderr
        return None
    return None if math.isnan(number) else number


def _dataset_of(name: str, task: Any, split: str) -> str:
    if name in OFFLINE_TASKS:
        return f"optimum_hywia/evaluation/tasks/{name}.jsonl ({split} split)"
    config = task.config
    parts = [config.dataset_path, config.dataset_name, config.test_split or config.validation_split]
    return " ".join(str(p) for p in parts if p)


def _task_result(name: str, raw: dict, n_samples: dict, dataset: str) -> dict[str, Any]:
    metrics = {}
    for key, value in raw.items():
        metric, _, filter_name = key.partition(",")
        if filter_name and not metric.endswith("_stderr"):
            metrics[metric] = _number(value)
            metrics[f"{metric}_stderr"] = _number(raw.get(f"{metric}_stderr,{filter_name}"))
    headline = TASK_METRICS.get(name) or ("acc_norm" if "acc_norm" in metrics else next(iter(metrics), None))
    return {
        "metric": headline,
        "value": metrics.get(headline),
        "stderr": metrics.get(f"{headline}_stderr"),
        "n_samples": int(n_samples.get(name, {}).get("effective", 0)),
        "dataset": dataset,
        "metrics": metrics,
    }


def resolve_precision(precision: str, device: Any) -> str | None:
    """The autocast dtype a ``precision`` setting means on ``device`` (None: the model's own dtype).

    Example:
        >>> resolve_precision("float32", "cpu") is None
        True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "auto":
        import torch

        return "bfloat16" if fast_bfloat16(torch.device(device)) else None
    return None if precision == "float32" else precision


def _in_dtype(model: Any, dtype: str | None) -> Any:
    """``model`` itself when it already computes in ``dtype`` (or ``dtype`` is None), else a copy cast to it: on a CPU a
    bfloat16 copy runs faster than autocast, which casts every weight again on every pass."""
    import torch

    if dtype is None or model.dtype == getattr(torch, dtype) or getattr(model, "hf_device_map", None):
        return model  # (a model placed by accelerate is scored where and as it lies)
    return copy.deepcopy(model).to(getattr(torch, dtype))


def zero_shot(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str] = tuple(OFFLINE_TASKS),
    limit: int | None = None,
    batch_size: int = 8,
    bootstrap_iters: int = 1000,
    max_length: int | None = None,
    log_samples: bool = False,
    split: str = TEST,
    backend: str = "packed",
    precision: str = "auto",
) -> dict[str, dict[str, Any]]:
    """Zero-shot evaluation of an in-memory causal LM with lm-eval; one entry per task.

    Each entry holds the paper's metric for the task (``metric``: ``acc`` or ``acc_norm``), its ``value`` (a
    fraction), ``stderr``, the number of items scored (``n_samples``), the ``dataset`` and every metric lm-eval
    reported (``metrics``). The offline tasks score the items of ``split`` (``test`` or ``validation``); ``limit``
    scores only the first N of them (the shipped tasks are shuffled, so a limit still mixes the texts). ``backend``:
    ``packed`` (fast, the default) or ``lm_eval`` (lm-eval's own ``HFLM``); ``precision``: ``auto`` (bfloat16 where the
    hardware has fast bfloat16, else the model's dtype), ``float32`` (the model's dtype) or ``bfloat16`` (a model in
    another dtype is scored through a bfloat16 copy; the model itself is never changed). With ``log_samples`` each entry also lists,
    per scored item, its ``doc_id``, the log-likelihood of each choice and whether the item was answered right under
    the headline metric (``samples``), to compare two models item by item. The tokenizer may get a pad token set by
    lm-eval.

    Example:
        >>> results = zero_shot(model, tokenizer, ["austen_nextsentence"], limit=100)  # doctest: +SKIP
        >>> results["austen_nextsentence"]["metric"], results["austen_nextsentence"]["value"]  # doctest: +SKIP
        ('acc_norm', 0.43)
    """
    names = check_task_names(tasks)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}.")
    check_split(split)
    lm_eval = _import_lm_eval()
    from lm_eval.models.huggingface import HFLM

    from .packed_lm import PackedHFLM

    device = next(model.parameters()).device
    dtype = resolve_precision(precision, device)
    scored_model = _in_dtype(model, dtype)
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(as_file(files("optimum_hywia.evaluation") / "tasks"))
        config_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hywia_tasks_")))
        write_offline_task_configs(config_dir, data_dir, split)
        manager = _task_manager(names, config_dir)
        loaded = _load_tasks(manager, names)
        lm_class = PackedHFLM if backend == "packed" else HFLM
        lm = lm_class(pretrained=scored_model, tokenizer=tokenizer, backend="causal", batch_size=batch_size,
                      max_length=max_length, softmax_dtype="float32")
        was_training = model.training
        scored_model.eval()
        try:  # lm-eval prints progress notes on stdout: keep stdout for results
            with contextlib.redirect_stdout(sys.stderr):
                output = lm_eval.simple_evaluate(
                    model=lm,
                    tasks=list(loaded["tasks"].values()),
                    limit=limit,
                    bootstrap_iters=bootstrap_iters,
                    task_manager=manager,
                    log_samples=log_samples,
                )
        finally:
            model.train(was_training)
    results, n_samples = output["results"], output.get("n-samples", {})
    entries = {
        name: _task_result(name, results[name], n_samples, _dataset_of(name, task, split))
        for name, task in loaded["tasks"].items()
    }
    for name, entry in entries.items():
        entry.update(split=split if name in OFFLINE_TASKS else None, backend=backend, precision=dtype or str(scored_model.dtype).removeprefix("torch."))
    for name, samples in (output.get("samples") or {}).items() if log_samples else ():
        metric = entries[name]["metric"]
        entries[name]["samples"] = sorted((_sample(s, metric) for s in samples), key=lambda s: s["doc_id"])
    return entries


def _sample(raw: dict, metric: str | None) -> dict[str, Any]:
    responses = raw["filtered_resps"]  # one (log-likelihood, is-greedy) pair per choice
    return {"doc_id": int(raw["doc_id"]), "loglikelihoods": [float(r[0]) for r in responses],
            "greedy": [bool(r[1]) for r in responses], "correct": float(raw[metric]) if metric in raw else None}
