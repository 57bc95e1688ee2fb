"""Running an exported GGUF in llama.cpp (llama-cpp-python) beside the transformers model it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch

# f32 export: llama.cpp and transformers differ only by float32 rounding in different kernels
F32_MEAN_ABS_TOLERANCE = 1e-3
MIN_TOP1_AGREEMENT = 0.99
GREEDY_TOKENS = 32


# tiny random models have near-ties among their next tokens; a position counts as decisive when transformers' best
# token leads the runner-up by more than this (about 10x the largest f32 difference measured between the two)
DECISIVE_MARGIN = 1e-2


@dataclass
class Agreement:
    top1: float
    mean_abs: float
    max_abs: float
    decisive_top1: float  # top-1 agreement over the decisive positions
    decisive_share: float  # share of positions that are decisive


def _without_weight_repacking(defaults):
    def model_params():
        params = defaults()
        params.use_extra_bufts = False
        return params

    return model_params


def open_gguf(path: Path, n_ctx: int = 256):
    """The GGUF in llama.cpp with an f32 KV cache (its default is f16, which alone moves SmolLM2's logits by ~1e-2)
    and without weight repacking: on CPUs with AMX, llama.cpp repacks quantised weights into AMX tiles, and that path
    crashes on small matrices (ggml-org/llama.cpp#20824; `llama-cli --no-repack` is the CLI's switch).
    llama-cpp-python has no argument for it, so its default model parameters are wrapped while the model loads."""
    import llama_cpp

    bindings = llama_cpp.llama_cpp
    repacking_off = _without_weight_repacking(bindings.llama_model_default_params)
    with mock.patch.object(bindings, "llama_model_default_params", repacking_off):
        return llama_cpp.Llama(str(path), logits_all=True, n_threads=1, n_ctx=n_ctx, verbose=False,
                               type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)


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
    same = ours.argmax(-1) == reference.argmax(-1)
    top_two = np.sort(reference, axis=-1)[:, -2:]
    decisive = top_two[:, 1] - top_two[:, 0] > DECISIVE_MARGIN
    return Agreement(float(same.mean()), float(difference.mean()), float(difference.max()),
                     float(same[decisive].mean()), float(decisive.mean()))


def greedy_ties_only(model, ids: list[int], generated: list[int]) -> list[int]:
    """Steps where llama.cpp's greedy token is not transformers' best next token (teacher-forced on llama.cpp's
    sequence), ignoring near-ties within DECISIVE_MARGIN."""
    with torch.no_grad():
        logits = model(torch.tensor([ids + generated])).logits[0, len(ids) - 1: -1]
    best = logits.max(-1).values
    chosen = logits.gather(-1, torch.tensor(generated)[:, None])[:, 0]
    return torch.nonzero(best - chosen > DECISIVE_MARGIN).flatten().tolist()


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
    # a plain argmax loop: `generate` would stop at (or, with min_new_tokens, suppress) the end-of-text token,
    # which llama.cpp's token loop does not treat specially
    sequence = list(ids)
    with torch.no_grad():
        for _ in range(count):
            sequence.append(int(model(torch.tensor([sequence])).logits[0, -1].argmax()))
    return generated, sequence[len(ids):]


def gguf_architecture(path: Path) -> str:
    import gguf

    field = gguf.GGUFReader(path).fields["general.architecture"]
    return field.contents()
