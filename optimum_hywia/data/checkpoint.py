"""Checks on a model before its weights are loaded: does it exist, are its files whole, do config and weights agree.

Example:
    >>> config = load_model_config("models/tiny")             # doctest: +SKIP
    >>> check_weight_files("models/tiny", config)             # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError, safe_open

from ..errors import CheckpointError, ModelNotFoundError, TokenizerMismatchError

_LAYER_INDEX = re.compile(r"\.(\d+)\.")


def load_model_config(model_id: str | os.PathLike, path: str | os.PathLike, **kwargs: Any) -> Any:
    """`AutoConfig.from_pretrained(path)`, with one clear error for a model that is missing or unreadable."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, **kwargs)
    except OSError as error:
        raise ModelNotFoundError(
            f"Cannot find model {str(model_id)!r}: it is not a local folder with a config.json and could not be "
            f"fetched from the Hugging Face Hub ({type(error).__name__}). Check the path or Hub id; offline, pass a "
            "local folder or `builtin:smollm2-135m`."
        ) from error
    except (ValueError, StrictDataclassError) as error:  # the latter: a config class's own validation failed
        raise CheckpointError(f"Cannot read the config of model {str(model_id)!r}: {_innermost(error)}") from error


def _innermost(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def _weight_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    try:
        with safe_open(file, framework="pt") as weights:
            return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}
    except (SafetensorError, OSError) as error:
        raise CheckpointError(
            f"{file} is corrupted or truncated ({error}). Save the model again, or download it again."
        ) from error


def _expected_shapes(config: Any, **kwargs: Any) -> dict[str, tuple[int, ...]]:
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config, **kwargs)
    return {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}


def _mismatch_message(key: str, found: tuple, expected: tuple, config: Any) -> str:
    match = _LAYER_INDEX.search(key)
    where = f"layer {match.group(1)}" if match else "a layer"
    widths = ""
    if match and int(match.group(1)) < len(config.layer_widths):
        widths = f" (`layer_widths[{match.group(1)}]` = {config.layer_widths[int(match.group(1))]})"
    return (
        f"The config does not match the weights at {where}: `{key}` has shape {list(found)} in the weights but "
        f"the config's layer widths{widths} give {list(expected)}. The config.json belongs to another save: save "
        "the model again."
    )


def check_weight_files(folder: str | os.PathLike, config: Any, **kwargs: Any) -> None:
    """Raise `CheckpointError` for a safetensors file that cannot be read, or whose shapes differ from those the
    config's `layer_widths` describe (only read: headers, no weights)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    shapes = {key: shape for file in files for key, shape in _weight_shapes(file).items()}
    if not shapes or not getattr(config, "layer_widths", None):
        return
    expected = _expected_shapes(config, **kwargs)
    for key, found in shapes.items():
        if key in expected and expected[key] != found:
            raise CheckpointError(_mismatch_message(key, found, expected[key], config))


def check_tokenizer_fits(tokenizer: Any, vocab_size: int | None) -> None:
    """Raise `TokenizerMismatchError` when `tokenizer` makes token ids past a model's `vocab_size` embeddings.

    A tokenizer smaller than the embedding table is fine (tables are often padded to a round size).
    """
    if vocab_size is not None and len(tokenizer) > vocab_size:
        raise TokenizerMismatchError(
            f"The tokenizer has {len(tokenizer)} tokens but the model's embedding table has {vocab_size} rows, so "
            "some token ids have no embedding. Use the tokenizer saved with this model (its folder or Hub id)."
        )
