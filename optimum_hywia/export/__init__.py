"""Export to serving formats: GGUF for llama.cpp (and Ollama, LM Studio, ...), per-layer widths included.

Example:
    >>> from optimum_hywia.export import to_gguf
    >>> to_gguf(model, tokenizer, "model.gguf", dtype="f16")  # doctest: +SKIP
"""

from .gguf import DTYPES, to_gguf, written_by_hywia
from .layout import PLAIN_ARCHITECTURES, GGUFLayout, LayerWidths, UnsupportedExportError, gguf_layout

__all__ = [
    "DTYPES",
    "PLAIN_ARCHITECTURES",
    "GGUFLayout",
    "LayerWidths",
    "UnsupportedExportError",
    "gguf_layout",
    "to_gguf",
    "written_by_hywia",
]
