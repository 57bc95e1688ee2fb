"""Evaluation helpers.

Example:
    >>> from optimum_hywia.evaluation import perplexity
    >>> perplexity(model, tokenizer, "builtin:prideprejudice", max_windows=200)  # doctest: +SKIP
"""

from .perplexity import perplexity, perplexity_report

__all__ = ["perplexity", "perplexity_report"]
