"""Text data (calibration and held-out sets) and the builtin real model.

Example:
    >>> from optimum_hywia.data import load_calibration_data, load_model_and_tokenizer
    >>> model, tokenizer = load_model_and_tokenizer("builtin:smollm2-135m")          # doctest: +SKIP
    >>> batch = load_calibration_data("builtin:austen", tokenizer, num_samples=16)   # doctest: +SKIP
"""

from .builtin import BUILTIN_MODELS, cache_dir, load_model_and_tokenizer, resolve_model_path
from .calibration import (
    BUILTIN_TEXTS,
    DEFAULT_CALIBRATION,
    HubDatasetUnavailableError,
    builtin_domains,
    builtin_text,
    check_text_source,
    load_calibration_data,
    load_text,
    sample_windows,
    text_start_tokens,
    tokenize_text,
)

__all__ = [
    "BUILTIN_MODELS",
    "BUILTIN_TEXTS",
    "DEFAULT_CALIBRATION",
    "HubDatasetUnavailableError",
    "builtin_domains",
    "builtin_text",
    "cache_dir",
    "check_text_source",
    "load_calibration_data",
    "load_model_and_tokenizer",
    "load_text",
    "resolve_model_path",
    "sample_windows",
    "text_start_tokens",
    "tokenize_text",
]
