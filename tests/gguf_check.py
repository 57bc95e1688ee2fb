"""Running an exported GGUF in llama.cpp (llama-cpp-python) beside the transformers model it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# f32 export: llama.cpp and transformers differ only by float32 rounding in different kernels
F32_MEAN_ABS_TOLERANCE = 1e-3
MIN_TOP1_AGREEMENT = 0.99
GREEDY_TOKENS = 32


@dataclass
class Agreement:
    top1: float
    mean_abs: float
    max_abs: float


def open_gguf(path: Path, n_ctx: int = 256):
    import llama_cpp

    return llama_cpp.Llama(str(path), logits_all=True, n_threads=1, n_ctx=n_ctx, verbose=False)


def compare_logits(model, path: Path, ids: list[int]) -> Agreement:
    """Next-token logits of llama.cpp and transformers for the same prompt, position by position."""
    llm = open_gguf(path)
    try:
        llm.eval(ids)
        ours = np.array(llm.scores[: len(ids)], dtype=np.float64)
    finally:
        llm.close()
    with torch.no_grad():
        reference = model(torch.tensor([ids])).logits[0].double().numpy()
    difference = np.abs(ours - reference)
    top1 = float((ours.argmax(-1) == reference.argmax(-1)).mean())
    return Agreement(top1, float(difference.mean()), float(difference.max()))


def greedy_tokens(model, path: Path, ids: list[int], count: int = GREEDY_TOKENS) -> tuple[list[int], list[int]]:
    """`count` greedy tokens after `ids` from llama.cpp and from transformers."""
    llm = open_gguf(path)
    try:
        generated = []
        for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0):
            generated.append(token)
            if len(generated) == count:
                break
    finally:
        llm.close()
    with torch.no_grad():
        output = model.generate(torch.tensor([ids]), max_new_tokens=count, min_new_tokens=count, do_sample=False)
    return generated, output[0, len(ids):].tolist()


def gguf_architecture(path: Path) -> str:
    import gguf

    field = gguf.GGUFReader(path).fields["general.architecture"]
    return field.contents()
