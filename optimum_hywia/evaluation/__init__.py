"""Evaluation: held-out perplexity, zero-shot accuracy through lm-eval, offline tasks and their mean, result reports.

Example:
    >>> from optimum_hywia.evaluation import evaluate_model, perplexity, results_table, zero_shot
    >>> perplexity(model, tokenizer, "builtin:prideprejudice", max_windows=200)            # doctest: +SKIP
    >>> zero_shot(model, tokenizer, ["austen_lastword", "austen_nextsentence"], limit=100)  # doctest: +SKIP
    >>> mean_accuracy(evaluate_model(model, tokenizer, list(OFFLINE_TASKS), limit=100))     # doctest: +SKIP
    >>> print(results_table(evaluate_model(model, tokenizer, "austen_lastword,ppl")))       # doctest: +SKIP

lm-eval is imported only when a zero-shot task runs (``pip install "optimum-hywia[eval]"``).
"""

from importlib.resources import files

from .flops import ForwardFlops, forward_flops
from .perplexity import perplexity, perplexity_report
from .ppl_sets import DEFAULT_PPL_SOURCE, PPL_SETS, describe_ppl_source, load_ppl_text
from .report import (
    MEAN_TASK,
    EvalPlan,
    evaluate_model,
    load_results,
    mean_accuracy,
    parse_tasks,
    results_table,
    save_results,
)
from .zero_shot import OFFLINE_CHANCE, OFFLINE_TASKS, STANDARD_TASKS, TASK_METRICS, available_tasks, check_task_names, zero_shot


def perplexity_metric_path() -> str:
    """Folder of the ``evaluate`` metric ``hywia_perplexity``: ``evaluate.load(perplexity_metric_path())``.

    Example:
        >>> perplexity_metric_path().endswith("hywia_perplexity")
        True
    """
    return str(files("optimum_hywia.evaluation") / "metrics" / "hywia_perplexity")


__all__ = [
    "DEFAULT_PPL_SOURCE",
    "EvalPlan",
    "MEAN_TASK",
    "ForwardFlops",
    "OFFLINE_CHANCE",
    "OFFLINE_TASKS",
    "PPL_SETS",
    "STANDARD_TASKS",
    "TASK_METRICS",
    "available_tasks",
    "check_task_names",
    "describe_ppl_source",
    "evaluate_model",
    "forward_flops",
    "load_ppl_text",
    "load_results",
    "mean_accuracy",
    "parse_tasks",
    "perplexity",
    "perplexity_metric_path",
    "perplexity_report",
    "results_table",
    "save_results",
    "zero_shot",
]
