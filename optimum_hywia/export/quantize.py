"""k-quantised GGUF (Q4_K_M and the other common k-quants) through llama.cpp's own quantizer.

`to_gguf(..., dtype="q4_k_m")` writes the f16 export first, then runs `llama_model_quantize` from llama-cpp-python
(the `gguf` extra) on it: the file is quantised exactly as `llama-quantize` would, per-layer widths included. k-quants
store rows in blocks of 256 values (QK_K); a weight whose row length (its input width: the kept MLP width for
`down_proj`) is not a multiple of 256 gets llama.cpp's fallback type instead. `tensor_types` counts what each weight
was stored as, so the fallbacks can be reported; `round_to=256` in `HyWIAConfig` keeps every MLP width a multiple of
256.

Example:
    >>> to_gguf(model, tokenizer, "model-q4_k_m.gguf", dtype="q4_k_m")   # doctest: +SKIP
    >>> tensor_types("model-q4_k_m.gguf")                                  # doctest: +SKIP
    {'F32': 61, 'Q4_K': 120, 'Q6_K': 31}
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import gguf

# our name -> llama.cpp's file type
K_QUANTS = {
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "q4_k_s": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q5_k_s": "LLAMA_FTYPE_MOSTLY_Q5_K_S",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
}
K_QUANT_TYPES = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}
INSTALL_HINT = "pip install 'optimum-hywia[gguf]'  (llama-cpp-python, which carries llama.cpp's quantizer)"


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError as error:
        raise ImportError(f"k-quantised GGUF export needs llama.cpp's quantizer: {INSTALL_HINT}") from error
    return llama_cpp


def quantize_gguf(source: str | os.PathLike, destination: str | os.PathLike, kind: str,
                  threads: int | None = None) -> Path:
    """Quantise the GGUF file `source` (f16/f32) to `kind` (one of :data:`K_QUANTS`) at `destination`."""
    if kind not in K_QUANTS:
        raise ValueError(f"`kind` must be one of {', '.join(K_QUANTS)}, got {kind!r}.")
    llama_cpp = _llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, K_QUANTS[kind])
    params.nthread = threads or os.cpu_count() or 1
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(destination).encode(), params)
    if status != 0:
        raise RuntimeError(f"llama.cpp's quantizer failed on {source} (status {status}).")
    return Path(destination)


def tensor_types(path: str | os.PathLike) -> dict[str, int]:
    """How many tensors of the file are stored in each GGML type, e.g. `{"Q4_K": 120, "Q5_0": 2, "F32": 61}`."""
    return dict(Counter(tensor.tensor_type.name for tensor in gguf.GGUFReader(path).tensors))


def fallback_tensors(path: str | os.PathLike) -> list[str]:
    """The 2-D weights of a k-quantised file stored in a type that is not a k-quant (llama.cpp's fallbacks), except
    the token embedding and output matrices, which every k-quant recipe stores in a type of its own."""
    kept_aside = ("token_embd.weight", "output.weight")
    return [tensor.name for tensor in gguf.GGUFReader(path).tensors
            if len(tensor.shape) == 2 and tensor.tensor_type.name not in K_QUANT_TYPES
            and tensor.name not in kept_aside]
