"""`to_gguf`: write a dense or HyWIA-pruned Llama-family model as a GGUF file that llama.cpp runs.

Uniform widths are written as the plain architecture (`llama` for Llama/Mistral, `qwen2`), with the metadata and
tensor layout of llama.cpp's own converter; non-uniform widths as `deci`, whose graph reads the head count, KV-head
count and feed-forward length of every layer (see `layout.py`). The file is written beside its destination and renamed
into place once complete, so an interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch
from torch import nn

from ..version import __version__
from .layout import GGUFLayout, UnsupportedExportError, gguf_layout, model_tensors
from .quantize import K_QUANTS, quantize_gguf
from .vocab import write_vocab

# our own key: marks a file as written by optimum-hywia (such a file may be replaced without `overwrite=True`)
EXPORTER_KEY = "hywia.exporter"
DTYPES = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}


def written_by_hywia(path: str | os.PathLike) -> bool:
    """Whether `path` is a GGUF file that `to_gguf` wrote."""
    try:
        return EXPORTER_KEY in gguf.GGUFReader(path).fields
    except Exception:  # not a GGUF file (or not readable as one): not ours
        return False


def check_output_path(path: Path, overwrite: bool) -> None:
    """Refuse to replace anything but a GGUF we wrote, unless `overwrite`; never replace a folder."""
    if path.is_dir():
        raise ValueError(f"The GGUF output `{path}` is a folder; give a file path such as `{path / 'model.gguf'}`.")
    if path.exists() and not overwrite and not written_by_hywia(path):
        raise FileExistsError(
            f"`{path}` exists and is not a GGUF written by optimum-hywia; pass `overwrite=True` (`--overwrite`) "
            "to replace it, or choose another path."
        )


def _rope_settings(config: Any) -> dict:
    """The rotary settings of a config (transformers 5 `rope_parameters`, or the older `rope_theta`/`rope_scaling`)."""
    parameters = dict(getattr(config, "rope_parameters", None) or {})
    if "rope_theta" not in parameters:
        parameters["rope_theta"] = getattr(config, "rope_theta", 10000.0)
    scaling = getattr(config, "rope_scaling", None) or {}
    parameters.setdefault("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    return {**scaling, **parameters}


def llama3_rope_factors(rope: dict, head_dim: int) -> torch.Tensor:
    """Per-frequency divisors llama.cpp applies (`rope_freqs.weight`) to reproduce Llama 3's rope scaling."""
    inv_freq = 1.0 / rope["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    wavelen = 2 * math.pi / inv_freq
    factor, old_context = rope["factor"], rope["original_max_position_embeddings"]
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    smooth = (old_context / wavelen - low) / (high - low)
    factors = 1 / ((1 - smooth) / factor + smooth)
    factors = torch.where(wavelen < old_context / high, 1.0, factors)
    factors = torch.where(wavelen > old_context / low, factor, factors)
    return factors.float()


def _write_rope(writer: gguf.GGUFWriter, config: Any, layout: GGUFLayout) -> torch.Tensor | None:
    """Rope metadata; returns the `rope_freqs` tensor that Llama 3 scaling needs, else None."""
    rope = _rope_settings(config)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    writer.add_rope_dimension_count(layout.head_dim)
    rope_type = rope["rope_type"]
    if rope_type == "default":
        return None
    if rope_type == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
        return None
    if rope_type == "llama3":
        return llama3_rope_factors(rope, layout.head_dim)
    raise UnsupportedExportError(
        f"GGUF export does not support rope_type `{rope_type}`; supported: ['default', 'linear', 'llama3']."
    )


def _per_layer_or_single(values: list[int]) -> int | list[int]:
    return values[0] if all(value == values[0] for value in values) else values


def write_hparams(writer: gguf.GGUFWriter, model: nn.Module, layout: GGUFLayout, dtype: str) -> torch.Tensor | None:
    """Model metadata, per-layer arrays where widths differ; returns the `rope_freqs` tensor if any."""
    config = model.config
    writer.add_name(Path(str(getattr(config, "_name_or_path", "") or "model")).name or "model")
    writer.add_string(EXPORTER_KEY, f"optimum-hywia {__version__}")
    writer.add_vocab_size(model.model.embed_tokens.num_embeddings)
    writer.add_block_count(len(layout.layers))
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(_per_layer_or_single([w.ffn for w in layout.layers]))
    writer.add_head_count(_per_layer_or_single([w.heads for w in layout.layers]))
    writer.add_head_count_kv(_per_layer_or_single([w.kv_heads for w in layout.layers]))
    writer.add_key_length(layout.head_dim)
    writer.add_value_length(layout.head_dim)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_file_type(DTYPES[dtype][1])
    return _write_rope(writer, config, layout)


def _stored(tensor: torch.Tensor, dtype: str) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
    """The array and GGML type a tensor is stored as: norms, biases and rope factors stay f32 (as llama.cpp's
    converter keeps them); q8_0 needs rows that are a multiple of its 32-value block, else f16."""
    data = tensor.detach().to(torch.float32).cpu().numpy()
    qtype = DTYPES[dtype][0]
    if data.ndim < 2 or qtype == gguf.GGMLQuantizationType.F32:
        return data, gguf.GGMLQuantizationType.F32
    if qtype == gguf.GGMLQuantizationType.F16:
        return data.astype(np.float16), qtype
    if qtype == gguf.GGMLQuantizationType.Q8_0 and data.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:
        return data.astype(np.float16), gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(data, qtype), qtype


def _add_tensors(writer: gguf.GGUFWriter, tensors: list[tuple[str, torch.Tensor]], dtype: str) -> None:
    for name, tensor in tensors:
        data, qtype = _stored(tensor, dtype)
        # packed types arrive as bytes; the writer derives their element shape from the byte shape
        writer.add_tensor(name, data, raw_dtype=None if data.dtype != np.uint8 else qtype)


def _write_file(path: Path, model: nn.Module, tokenizer: Any, layout: GGUFLayout, dtype: str, progress: bool):
    writer = gguf.GGUFWriter(path, layout.architecture)
    try:
        rope_freqs = write_hparams(writer, model, layout, dtype)
        write_vocab(writer, tokenizer, model.model.embed_tokens.num_embeddings)
        tensors = model_tensors(model, layout)
        if rope_freqs is not None:
            tensors.append(("rope_freqs.weight", rope_freqs))
        _add_tensors(writer, tensors, dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file(progress=progress)
    finally:
        writer.close()


def to_gguf(
    model: nn.Module,
    tokenizer: Any,
    path: str | os.PathLike,
    dtype: str = "f16",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write `model` (dense or pruned, Llama/Mistral/Qwen2 family) and its tokenizer as a GGUF file at `path`.

    Args:
        dtype: storage of the weight matrices: `f16` (default), `bf16`, `f32`, `q8_0`, or a k-quant (`q4_k_m`,
            `q5_k_m`, `q6_k`, ... : the f16 export quantised by llama.cpp's own quantizer, which needs the `gguf`
            extra). Norms and biases stay f32.
        overwrite: replace an existing file that optimum-hywia did not write (a GGUF it wrote is always replaced).

    Example:
        >>> from optimum_hywia.export import to_gguf
        >>> to_gguf(model, tokenizer, "smollm2-hywia-50.gguf", dtype="q8_0")  # doctest: +SKIP
    """
    if dtype not in DTYPES and dtype not in K_QUANTS:
        raise ValueError(f"`dtype` must be one of {sorted(DTYPES) + list(K_QUANTS)}, got {dtype!r}.")
    path = Path(path)
    layout = gguf_layout(model)  # unsupported families fail here, before anything is written
    check_output_path(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    unquantised = f"{staging}.f16" if dtype in K_QUANTS else staging
    try:
        with torch.no_grad():
            _write_file(Path(unquantised), model, tokenizer, layout, "f16" if dtype in K_QUANTS else dtype, progress)
        if dtype in K_QUANTS:
            quantize_gguf(unquantised, staging, dtype)
        os.replace(staging, path)
    finally:
        for leftover in {staging, unquantised}:
            if os.path.exists(leftover):
                os.remove(leftover)
    return path
