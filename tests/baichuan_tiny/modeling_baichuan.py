# Written for optimum-hywia's tests; not Baichuan's code. Apache-2.0.
"""A tiny causal LM shaped like Baichuan-7B / Baichuan2-7B, loaded as remote code (`trust_remote_code=True`).

It mirrors the public structure of Baichuan's remote code, which is what optimum-hywia's Baichuan support relies on:
- module names: `model.embed_tokens`, `model.layers[i].self_attn.{W_pack, o_proj, rotary_emb}`,
  `model.layers[i].mlp.{gate_proj, up_proj, down_proj}`, `input_layernorm`, `post_attention_layernorm`,
  `model.norm`, `lm_head`;
- shapes: `W_pack` stacks the query, key and value rows ([q of all heads; k; v], `hidden_size` rows each), no biases;
- the attention forward reads `self.hidden_size` (to split `W_pack`'s output and to merge heads) and
  `self.num_heads`, as Baichuan's does; RoPE on query and key (Baichuan-7B / Baichuan2-7B).
It uses transformers 5's `Cache` API (Baichuan's published code uses transformers 4 tuple caches) and computes the
rotary cos/sin per call instead of keeping non-persistent caches.
"""

import math

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from .configuration_baichuan import BaichuanConfig


class RMSNorm(nn.Module):
    def __init__(self, hidden_size, epsilon=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.epsilon = epsilon

    def forward(self, hidden_states):
        variance = hidden_states.float().pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states.float() * torch.rsqrt(variance + self.epsilon)
        return self.weight * hidden_states.to(self.weight.dtype)


class RotaryEmbedding(nn.Module):
    def __init__(self, dim, base=10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / base ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, position_ids, dtype):
        freqs = position_ids[..., None].float() * self.inv_freq.float()
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(query, key, cos, sin):
    cos, sin = cos[:, None], sin[:, None]  # [batch, 1, seq, head_dim]
    return query * cos + rotate_half(query) * sin, key * cos + rotate_half(key) * sin


class MLP(nn.Module):
    def __init__(self, hidden_size, intermediate_size, hidden_act):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.act_fn = ACT2FN[hidden_act]

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class BaichuanAttention(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.hidden_size // self.num_heads
        self.layer_idx = layer_idx
        if self.head_dim * self.num_heads != self.hidden_size:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        self.W_pack = nn.Linear(self.hidden_size, 3 * self.hidden_size, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, self.hidden_size, bias=False)
        self.rotary_emb = RotaryEmbedding(self.head_dim)

    def forward(self, hidden_states, attention_mask, position_ids, cache=None):
        bsz, q_len, _ = hidden_states.size()
        proj = self.W_pack(hidden_states)
        proj = proj.unflatten(-1, (3, self.hidden_size)).unsqueeze(0).transpose(0, -2).squeeze(-2)
        query = proj[0].view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        key = proj[1].view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        value = proj[2].view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        cos, sin = self.rotary_emb(position_ids, value.dtype)
        query, key = apply_rotary_pos_emb(query, key, cos, sin)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        weights = torch.matmul(query, key.transpose(2, 3)) / math.sqrt(self.head_dim) + attention_mask
        weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
        output = torch.matmul(weights, value).transpose(1, 2).reshape(bsz, q_len, self.hidden_size)
        return self.o_proj(output)


class BaichuanLayer(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.self_attn = BaichuanAttention(config, layer_idx)
        self.mlp = MLP(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.input_layernorm = RMSNorm(config.hidden_size, epsilon=config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, epsilon=config.rms_norm_eps)

    def forward(self, hidden_states, attention_mask, position_ids, cache=None):
        attended = self.self_attn(self.input_layernorm(hidden_states), attention_mask, position_ids, cache)
        hidden_states = hidden_states + attended
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))


class BaichuanPreTrainedModel(PreTrainedModel):
    config_class = BaichuanConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False
    _no_split_modules = ["BaichuanLayer"]


def causal_mask(attention_mask, past_length, q_len, dtype, device):
    """Additive mask [batch or 1, 1, q_len, past_length + q_len]: causal, and padding from a 2D `attention_mask`."""
    kv_len = past_length + q_len
    query_positions = torch.arange(past_length, kv_len, device=device)
    allowed = torch.arange(kv_len, device=device)[None, :] <= query_positions[:, None]
    allowed = allowed[None]
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, -kv_len:].bool()
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


class BaichuanModel(BaichuanPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList([BaichuanLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, epsilon=config.rms_norm_eps)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                use_cache=None, **kwargs):
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache()
        past_length = cache.get_seq_length() if cache is not None else 0
        batch, q_len = inputs_embeds.shape[:2]
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + q_len, device=inputs_embeds.device)
            position_ids = position_ids[None].expand(batch, -1)
        mask = causal_mask(attention_mask, past_length, q_len, inputs_embeds.dtype, inputs_embeds.device)
        hidden_states = inputs_embeds
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, position_ids, cache)
        return BaseModelOutputWithPast(last_hidden_state=self.norm(hidden_states), cache=cache)


class BaichuanForCausalLM(BaichuanPreTrainedModel, GenerationMixin):
    def __init__(self, config):
        super().__init__(config)
        self.model = BaichuanModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                labels=None, use_cache=None, **kwargs):
        outputs = self.model(input_ids, attention_mask, position_ids, cache, inputs_embeds, use_cache)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=outputs.cache)
