"""Tiny random models shaped like each supported family (head counts, KV heads, biases, tied embeddings)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    BloomConfig,
    BloomForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GraniteConfig,
    GraniteForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
)

VOCAB = 96
_COMMON = dict(vocab_size=VOCAB, hidden_size=48, intermediate_size=40, num_hidden_layers=4, max_position_embeddings=64)

TINY_FAMILIES = {
    # Llama-1/2 and Vicuna: multi-head attention, untied embeddings
    "llama_mha": (LlamaConfig, LlamaForCausalLM, dict(num_attention_heads=6, num_key_value_heads=6)),
    # Llama-3 / SmolLM2: grouped-query attention, tied embeddings, larger rope theta
    "llama_gqa": (
        LlamaConfig,
        LlamaForCausalLM,
        dict(num_attention_heads=6, num_key_value_heads=2, tie_word_embeddings=True,
             rope_parameters={"rope_type": "default", "rope_theta": 500000.0}),
    ),
    "mistral": (MistralConfig, MistralForCausalLM, dict(num_attention_heads=6, num_key_value_heads=2, head_dim=8)),
    # Qwen2: biases on q/k/v, none on o_proj
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(num_attention_heads=6, num_key_value_heads=3)),
    # Qwen3: per-head q/k RMSNorm, GQA, head_dim not hidden_size / heads
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, dict(num_attention_heads=6, num_key_value_heads=2, head_dim=10)),
    # Gemma 3 text (as 270M/1B): one KV head, head_dim independent of hidden_size, its own attention scaling,
    # sliding-window and global layers (window shorter than the test inputs), four norms per layer, scaled embeddings
    "gemma3": (
        Gemma3TextConfig,
        Gemma3ForCausalLM,
        dict(num_attention_heads=4, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=12, sliding_window=4,
             layer_types=["sliding_attention", "full_attention"] * 2),
    ),
    # Granite (IBM): Llama layout with GQA and non-default multipliers, which the pruned config must keep
    "granite": (
        GraniteConfig,
        GraniteForCausalLM,
        dict(num_attention_heads=6, num_key_value_heads=2, embedding_multiplier=2.0, residual_multiplier=0.5,
             attention_multiplier=0.2, logits_scaling=4.0),
    ),
}

BAICHUAN_TINY = Path(__file__).parent / "baichuan_tiny"  # a remote-code checkpoint folder without weights


def baichuan_config(**values):
    """The tiny Baichuan config, loaded as remote code like a Baichuan checkpoint's (`trust_remote_code=True`)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(BAICHUAN_TINY, trust_remote_code=True, **values)


def baichuan_model(config):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(config, trust_remote_code=True)


# Families whose modules are not named like Llama's (the Llama-specific tests in test_surgery.py / test_save_load.py
# parametrize over TINY_FAMILIES only); tests/test_families.py runs the full flow over both tables.
EXTRA_FAMILIES = {
    # Bloom: fused per-head query_key_value, ALiBi (6 heads: not a power of two, so the slopes interleave), 4h MLP
    "bloom": (BloomConfig, BloomForCausalLM, dict(n_head=6, n_layer=4)),
    # Baichuan-7B / Baichuan2-7B: remote code, fused W_pack = [q; k; v], RoPE, gated MLP (tests/baichuan_tiny)
    "baichuan": (baichuan_config, baichuan_model, dict(num_attention_heads=6)),
    # Phi-3 (medium's GQA): fused qkv_proj = [q; k; v] and fused gate_up_proj = [gate; up]
    "phi3": (Phi3Config, Phi3ForCausalLM, dict(num_attention_heads=6, num_key_value_heads=2, pad_token_id=0,
                                             bos_token_id=2, eos_token_id=1)),
}


def tiny_model(family: str, seed: int = 0, **overrides) -> torch.nn.Module:
    config_class, model_class, extra = {**TINY_FAMILIES, **EXTRA_FAMILIES}[family]
    torch.manual_seed(seed)
    model = model_class(config_class(**{**_COMMON, **extra, **overrides}))
    with torch.no_grad():  # non-zero biases, so a wrongly sliced bias shows up in the logits
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.normal_(0, 0.1)
    return model.eval()


def tiny_tokenizer():
    """A character-level fast tokenizer over printable ASCII, built offline (ids < VOCAB)."""
    import string

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - set("\x0b\x0c\r"))[: VOCAB - 2]
    vocab = {"<unk>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")


def save_tiny_checkpoint(folder, family: str = "llama_gqa", seed: int = 0):
    """A tiny model and its tokenizer saved like a Hub checkpoint, for CLI and Hub tests."""
    model = tiny_model(family, seed=seed)
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return model


def byte_tokenizer():
    """A 256-token byte-level tokenizer (no merges, no special tokens), built without the Hub."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def bos_byte_tokenizer():
    """`byte_tokenizer` that starts every encoded text with `<bos>` (id 256), as Gemma's and Llama-2's do."""
    from tokenizers import processors

    tokenizer = byte_tokenizer()
    tokenizer.add_special_tokens({"bos_token": "<bos>"})
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    return tokenizer


def masked_reference(dense, config, calibration_data=None):
    """`dense` with the outputs of the units the pruner would remove zeroed (their columns of the output projection:
    o_proj, down_proj, dense, ...): what a correctly pruned model must compute (scored on `calibration_data` for a
    criterion that needs it; criteria that also change kept weights, such as FLAP's bias compensation, do not fit)."""
    import copy

    from optimum_hywia import HyWIAPruner, get_architecture_spec
    from optimum_hywia.allocation.strategies import plan_pruning
    from optimum_hywia.importance import get_importance

    reference = copy.deepcopy(dense)
    context = HyWIAPruner(config).scoring_context(copy.deepcopy(dense), calibration_data, None)
    scores = get_importance(config.importance).score(context)
    plan = plan_pruning(context, scores, config.resolved_allocation)
    layers = get_architecture_spec(reference).layers(reference)
    with torch.no_grad():
        for group in context.groups:
            member = group.mask_member
            removed = ~torch.isin(member.unit_of, plan[group.key]) & (member.unit_of >= 0)
            layers[group.layer].get_submodule(member.path).weight[:, removed] = 0
    return reference


def bpe_tokenizer(vocab_size: int = 320):
    """A GPT-2 style byte-level BPE tokenizer with merges and an end-of-text token, trained offline on a few
    sentences of the shipped calibration text (what llama.cpp's `gpt2` tokenizer model needs)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from optimum_hywia.data.calibration import load_text

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator([load_text("builtin:prideprejudice")[:20000]], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
