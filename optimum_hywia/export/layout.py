"""What a Llama-family model (dense or pruned) looks like to llama.cpp: architecture, per-layer widths, tensor names.

llama.cpp's graphs for `llama` and `qwen2` build every layer from the layer-0 head counts and feed-forward length,
so they can only hold a model whose layers all keep the same widths. Its `deci` graph (the one of Nemotron-NAS
models) reads `head_count`, `head_count_kv` and `feed_forward_length` per layer, with the Llama layer layout (RMSNorm,
rotary embeddings in the interleaved layout, SwiGLU MLP, optional q/k/v/o and MLP biases): a non-uniformly pruned
model is written as `deci`.

transformers' rotary embedding rotates the two halves of each head (`rotate_half`); llama.cpp's `llama` and `deci`
graphs rotate adjacent pairs. Their GGUFs therefore hold the q/k rows of each head reordered (`interleave_rope_rows`),
as llama.cpp's own converter writes them. Its `qwen2` graph rotates halves, so Qwen2 rows stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..architectures.llama import read_llama_widths
from ..errors import HyWIAError
from ..modeling.convert import base_model_type

# transformers model_type -> the GGUF architecture llama.cpp's converter writes for uniform widths
PLAIN_ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}
PER_LAYER_ARCHITECTURE = "deci"
# GGUF architectures whose graph rotates adjacent pairs of each head (q/k rows are reordered for them)
INTERLEAVED_ROPE_ARCHITECTURES = ("llama", "deci")


class UnsupportedExportError(HyWIAError, ValueError):
    """The model's family (or one of its settings) cannot be written as a GGUF llama.cpp runs identically."""


@dataclass(frozen=True)
class LayerWidths:
    """The widths of one decoder layer: query heads, key/value heads and MLP channels."""

    heads: int
    kv_heads: int
    ffn: int


@dataclass(frozen=True)
class GGUFLayout:
    """The GGUF architecture a model is written as, and the widths its metadata declares."""

    family: str
    architecture: str
    head_dim: int
    layers: tuple[LayerWidths, ...]

    @property
    def uniform(self) -> bool:
        return all(widths == self.layers[0] for widths in self.layers)

    @property
    def interleave_rope(self) -> bool:
        return self.architecture in INTERLEAVED_ROPE_ARCHITECTURES


def model_family(model: nn.Module) -> str:
    """The transformers family of a dense or pruned model (`hywia_llama` -> `llama`)."""
    return base_model_type(model.config)


def check_exportable(model: nn.Module) -> str:
    """The model's family, or UnsupportedExportError naming it and the families GGUF export supports."""
    return check_exportable_config(model.config)


def check_exportable_config(config) -> str:
    """`check_exportable` from a model's config alone, before its weights are loaded."""
    family = base_model_type(config)
    if family not in PLAIN_ARCHITECTURES:
        raise UnsupportedExportError(
            f"GGUF export does not support the `{family}` family; supported: {sorted(PLAIN_ARCHITECTURES)}."
        )
    return family


def layer_widths(model: nn.Module) -> tuple[LayerWidths, ...]:
    """Widths read from each decoder layer's projection shapes (so pruned and dense models read alike)."""
    widths = [read_llama_widths(layer) for layer in model.model.layers]
    return tuple(LayerWidths(heads=w["num_attention_heads"], kv_heads=w["num_key_value_heads"],
                             ffn=w["intermediate_size"]) for w in widths)


def gguf_layout(model: nn.Module) -> GGUFLayout:
    """The plain architecture when every layer keeps the same widths, else `deci` with per-layer widths."""
    family = check_exportable(model)
    widths = layer_widths(model)
    uniform = all(w == widths[0] for w in widths)
    architecture = PLAIN_ARCHITECTURES[family] if uniform else PER_LAYER_ARCHITECTURE
    return GGUFLayout(family, architecture, model.model.layers[0].self_attn.head_dim, widths)


def interleave_rope_rows(tensor: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Reorder the rows of each head from halves [x0..x(d/2-1), y0..] to pairs [x0, y0, x1, y1, ...].

    Works on q/k weights (rows x hidden) and biases (rows) alike, for any number of heads.
    """
    rows = tensor.shape[0]
    return tensor.reshape(rows // head_dim, 2, head_dim // 2, *tensor.shape[1:]).swapaxes(1, 2).reshape(tensor.shape)


def layer_tensors(layer: nn.Module, index: int, layout: GGUFLayout) -> list[tuple[str, torch.Tensor]]:
    """GGUF name and tensor of every parameter of decoder layer `index`, q/k rows reordered where needed."""
    modules = {
        "attn_norm": layer.input_layernorm,
        "attn_q": layer.self_attn.q_proj,
        "attn_k": layer.self_attn.k_proj,
        "attn_v": layer.self_attn.v_proj,
        "attn_output": layer.self_attn.o_proj,
        "ffn_norm": layer.post_attention_layernorm,
        "ffn_gate": layer.mlp.gate_proj,
        "ffn_up": layer.mlp.up_proj,
        "ffn_down": layer.mlp.down_proj,
    }
    tensors = []
    for gguf_name, module in modules.items():
        for kind, parameter in module.named_parameters(recurse=False):
            tensor = parameter.detach()
            if layout.interleave_rope and gguf_name in ("attn_q", "attn_k"):
                tensor = interleave_rope_rows(tensor, layout.head_dim)
            tensors.append((f"blk.{index}.{gguf_name}.{kind}", tensor))
    return tensors


def model_tensors(model: nn.Module, layout: GGUFLayout) -> list[tuple[str, torch.Tensor]]:
    """Every tensor of the GGUF, in llama.cpp's names; a tied LM head is not written (llama.cpp reuses the embedding)."""
    tensors = [("token_embd.weight", model.model.embed_tokens.weight.detach())]
    for index, layer in enumerate(model.model.layers):
        tensors.extend(layer_tensors(layer, index, layout))
    tensors.append(("output_norm.weight", model.model.norm.weight.detach()))
    if model.lm_head.weight is not model.model.embed_tokens.weight:
        tensors.append(("output.weight", model.lm_head.weight.detach()))
    return tensors
