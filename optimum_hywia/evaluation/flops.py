"""Forward FLOPs of a (dense or pruned) causal LM, counted from the shapes of its layers.

A multiply-add counts 2 FLOPs. Counted: every `nn.Linear` (the decoder projections and the LM head) and the two
attention products per layer, QKᵀ and AV, each 2 · tokens · kv_len · heads · head_dim. The causal mask is not
discounted: every query is counted against the whole key length (a prefill of n tokens counts n · n, not n(n+1)/2;
a decode step is the same either way), an upper bound for kernels that skip masked blocks. Not counted: biases, norms, rotary
embeddings, activations and softmax (a few percent at most). Widths are read per layer, so pruned layers of any width
count what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..architectures import get_architecture_spec


@dataclass(frozen=True)
class ForwardFlops:
    """FLOPs of one forward pass: `linear` (every nn.Linear, the LM head included) and `attention` (QKᵀ and AV)."""

    linear: int
    attention: int

    @property
    def total(self) -> int:
        return self.linear + self.attention


def _head_dim(layer: nn.Module) -> int:
    """head_dim of the layer's attention module (the first submodule that has one)."""
    for module in layer.modules():
        head_dim = getattr(module, "head_dim", None)
        if isinstance(head_dim, int):
            return head_dim
    raise ValueError(f"Found no attention module with a `head_dim` in {type(layer).__name__}.")


def forward_flops(
    model: nn.Module, new_tokens: int, past_tokens: int = 0, batch_size: int = 1, logits_to_keep: int = 0
) -> ForwardFlops:
    """FLOPs of one forward pass of `batch_size` sequences of `new_tokens` tokens after `past_tokens` cached ones.

    A prefill of n tokens is `forward_flops(model, n)`; one decode step with a cache of L tokens is
    `forward_flops(model, 1, past_tokens=L)`. `logits_to_keep` is transformers' argument: the LM head runs on the
    last that many tokens of each sequence (0: all of them; `generate` uses 1 for its prefill).

    Example:
        >>> from transformers import LlamaConfig, LlamaForCausalLM
        >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=10, hidden_size=8, intermediate_size=4,
        ...                          num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
        >>> flops = forward_flops(model, new_tokens=3)
        >>> flops.linear  # 3 tokens x 2 x (q 64 + k 32 + v 32 + o 64 + gate, up, down 3 x 32 + LM head 80)
        2208
        >>> flops.attention  # 1 layer x 2 products x 2 x 3 queries x 3 keys x (2 heads x head_dim 4)
        288
    """
    if new_tokens < 1 or past_tokens < 0 or batch_size < 1 or logits_to_keep < 0:
        raise ValueError(
            f"Need new_tokens >= 1, past_tokens >= 0, batch_size >= 1, logits_to_keep >= 0; got {new_tokens}, "
            f"{past_tokens}, {batch_size}, {logits_to_keep}."
        )
    head = model.get_output_embeddings()
    logit_tokens = new_tokens if logits_to_keep == 0 else min(logits_to_keep, new_tokens)
    linear = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            tokens = logit_tokens if module is head else new_tokens
            linear += 2 * batch_size * tokens * module.in_features * module.out_features
    spec = get_architecture_spec(model)
    kv_len = past_tokens + new_tokens
    attention = 0
    for layer in spec.layers(model):
        query_width = spec.read_widths(layer)["num_attention_heads"] * _head_dim(layer)
        attention += 2 * (2 * batch_size * new_tokens * kv_len * query_width)
    return ForwardFlops(linear, attention)
