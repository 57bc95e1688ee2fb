"""The tokenizer part of a GGUF: token list and types, merges, special tokens, chat template.

Byte-level BPE tokenizers (GPT-2 style: SmolLM2, Llama 3, Qwen2, ...) are written as llama.cpp's `gpt2` tokenizer
model; byte-fallback BPE tokenizers with a `tokenizer.json` (Llama 2, Mistral v0.1 style) as its `llama` (SentencePiece)
model through the `gguf` package's `LlamaHfVocab`. Merges, special-token ids and the chat template are read by the
`gguf` package's `SpecialVocab` from the tokenizer saved to a temporary folder.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import gguf

from .layout import UnsupportedExportError

# llama.cpp's pre-tokenizer names, keyed by the tokenizer.json pre-tokenizer regex they implement
_SPLIT_REGEX_PRE = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": (
        "llama-bpe"
    ),
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": (
        "qwen2"
    ),
}


def _tokenizer_json(tokenizer: Any) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UnsupportedExportError(
            f"GGUF export needs a fast tokenizer (tokenizer.json); got {type(tokenizer).__name__}."
        )
    return json.loads(backend.to_str())


def _is_byte_level(tokenizer_json: dict) -> bool:
    model, decoder = tokenizer_json["model"], tokenizer_json.get("decoder") or {}
    return model["type"] == "BPE" and not model.get("byte_fallback") and decoder.get("type") == "ByteLevel"


def _is_byte_fallback(tokenizer_json: dict) -> bool:
    model = tokenizer_json["model"]
    return model["type"] == "BPE" and bool(model.get("byte_fallback"))


def pre_tokenizer_name(tokenizer_json: dict) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer (`tokenizer.ggml.pre`).

    The GPT-2 regex alone is `gpt-2`; a Split on the Llama-3 or Qwen2 regex before a regex-free ByteLevel is
    `llama-bpe` or `qwen2`. Anything else is written as `default` with a warning: llama.cpp then splits text with
    its default regex, so its tokens (not the logits for given tokens) may differ from transformers'.
    """
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Split", "ByteLevel"]:
        pattern = steps[0].get("pattern", {})
        name = _SPLIT_REGEX_PRE.get(pattern.get("Regex", ""))
        if name is not None:
            return name
    warnings.warn(
        f"The pre-tokenizer {kinds} is not one GGUF export recognises; writing `default`: llama.cpp may split text "
        "into different tokens than transformers (logits for the same tokens are unaffected).",
        stacklevel=3,
    )
    return "default"


def _token_type(token_id: int, added: dict) -> int:
    if token_id not in added:
        return gguf.TokenType.NORMAL
    return gguf.TokenType.CONTROL if added[token_id].special else gguf.TokenType.USER_DEFINED


def byte_level_tokens(tokenizer: Any, vocab_size: int) -> tuple[list[str], list[int]]:
    """One token and type per embedding row; rows the tokenizer never produces are padded as UNUSED."""
    by_id = {token_id: token for token, token_id in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for token_id in range(vocab_size):
        if token_id in by_id:
            tokens.append(by_id[token_id])
            types.append(_token_type(token_id, added))
        else:
            tokens.append(f"[PAD{token_id}]")
            types.append(gguf.TokenType.UNUSED)
    return tokens, types


def _adds_token(tokenizer: Any, token_id: int | None, first: bool) -> bool:
    """Whether the tokenizer puts `token_id` first (or last) when it encodes text with special tokens."""
    if token_id is None:
        return False
    ids = tokenizer("a").input_ids
    return bool(ids) and ids[0 if first else -1] == token_id


def _write_byte_level(writer: gguf.GGUFWriter, tokenizer: Any, tokenizer_json: dict, vocab_size: int) -> None:
    tokens, types = byte_level_tokens(tokenizer, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer_name(tokenizer_json))
    writer.add_token_list(tokens)
    writer.add_token_types(types)


def _write_byte_fallback(writer: gguf.GGUFWriter, folder: Path, vocab_size: int) -> None:
    vocab = gguf.LlamaHfVocab(folder)
    tokens, scores, types = [], [], []
    for text, score, token_type in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(token_type)
    for token_id in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{token_id}]".encode())
        scores.append(-1000.0)
        types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens[:vocab_size])
    writer.add_token_scores(scores[:vocab_size])
    writer.add_token_types(types[:vocab_size])


def write_vocab(writer: gguf.GGUFWriter, tokenizer: Any, vocab_size: int) -> None:
    """Write the tokenizer metadata for a model whose embedding has `vocab_size` rows."""
    tokenizer_json = _tokenizer_json(tokenizer)
    byte_level = _is_byte_level(tokenizer_json)
    if not byte_level and not _is_byte_fallback(tokenizer_json):
        raise UnsupportedExportError(
            f"GGUF export supports byte-level BPE and byte-fallback BPE tokenizers; this one is a "
            f"`{tokenizer_json['model']['type']}` model (byte_fallback={tokenizer_json['model'].get('byte_fallback')})."
        )
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        if byte_level:
            _write_byte_level(writer, tokenizer, tokenizer_json, vocab_size)
        else:
            _write_byte_fallback(writer, Path(folder), vocab_size)
        gguf_logger = logging.getLogger("gguf.vocab")
        level = gguf_logger.level
        gguf_logger.setLevel(logging.ERROR)  # it logs every special token it finds
        try:
            special = gguf.SpecialVocab(folder, load_merges=byte_level, n_vocab=vocab_size)
        finally:
            gguf_logger.setLevel(level)
    if byte_level and not special.merges:
        raise UnsupportedExportError("The byte-level BPE tokenizer has no merges; llama.cpp cannot load it without.")
    special.add_special_token["bos"] = _adds_token(tokenizer, tokenizer.bos_token_id, first=True)
    special.add_special_token["eos"] = _adds_token(tokenizer, tokenizer.eos_token_id, first=False)
    special.add_to_gguf(writer, quiet=True)
