"""Held-out perplexity, LLM-Pruner protocol.

The held-out text is tokenised once and cut into non-overlapping windows of ``seq_len`` tokens (the last, partial
window is dropped). Each window is scored on its own; the perplexity is ``exp`` of the mean causal-LM negative
log-likelihood over every predicted token of every window (``seq_len - 1`` per window). When a tokenizer is given
and it starts every text with a BOS token (Gemma), each window is that BOS followed by ``seq_len - 1`` text tokens,
all of them predicted.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.calibration import load_text, text_start_tokens, tokenize_text, with_start_tokens
from ..errors import CalibrationDataError


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _resolve_token_ids(
    tokenizer: Any,
    source: str | os.PathLike | None,
    text: str | None,
    token_ids: torch.Tensor | None,
    max_tokens: int | None,
) -> torch.Tensor:
    given = [name for name, value in (("source", source), ("text", text), ("token_ids", token_ids)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"Pass exactly one of source, text or token_ids; got {given or 'none'}.")
    if token_ids is not None:
        ids = torch.as_tensor(token_ids)
        if ids.dim() == 2 and ids.shape[0] == 1:
            ids = ids[0]
        if ids.dim() != 1:
            raise ValueError(f"token_ids must be 1-D (or [1, T]), got shape {tuple(ids.shape)}.")
        return ids.long()
    if tokenizer is None:
        raise ValueError(f"A tokenizer is needed to score {given[0]}; pass tokenizer=... or token_ids=...")
    raw = load_text(source) if source is not None else text
    return tokenize_text(raw, tokenizer, max_tokens=max_tokens)


def perplexity_report(
    model: torch.nn.Module,
    tokenizer: Any = None,
    source: str | os.PathLike | None = None,
    *,
    text: str | None = None,
    token_ids: torch.Tensor | None = None,
    seq_len: int = 128,
    max_windows: int | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
) -> dict[str, float | int]:
    """Perplexity with its details: ``{"ppl", "nll", "n_windows", "n_tokens"}``.

    Give exactly one of ``source`` (anything :func:`optimum_hywia.data.load_text` accepts, e.g.
    ``"builtin:prideprejudice"``), ``text`` (raw text) or ``token_ids`` (1-D tensor). ``n_tokens`` counts the
    predicted tokens, ``n_windows * (seq_len - 1)``; ``nll`` is their mean negative log-likelihood.

    Example:
        >>> perplexity_report(model, tokenizer, "builtin:prideprejudice", max_windows=200)  # doctest: +SKIP
        {'ppl': 37.95..., 'nll': 3.636..., 'n_windows': 200, 'n_tokens': 25400}
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2 (one token predicts the next), got {seq_len}.")
    if max_windows is not None and max_windows < 1:
        raise ValueError(f"max_windows must be a positive integer or None, got {max_windows}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    max_tokens = None if max_windows is None else max_windows * seq_len
    ids = _resolve_token_ids(tokenizer, source, text, token_ids, max_tokens)
    n_windows = ids.numel() // seq_len
    if max_windows is not None:
        n_windows = min(n_windows, max_windows)
    if n_windows == 0:
        raise CalibrationDataError(
            f"Text too short: {ids.numel()} tokens, less than one window of seq_len={seq_len} tokens. Use a longer "
            "text or a smaller `seq_len`."
        )
    windows = ids[: n_windows * seq_len].view(n_windows, seq_len)
    start = text_start_tokens(tokenizer) if tokenizer is not None else []
    if start:
        windows = with_start_tokens(ids[: n_windows * (seq_len - len(start))].view(n_windows, -1), start)

    device = _model_device(model)
    was_training = model.training
    model.eval()
    total_nll = 0.0
    try:
        with torch.no_grad():
            firsts = range(0, n_windows, batch_size)
            for first in tqdm(firsts, desc="Perplexity", unit="batch", disable=not show_progress):
                batch = windows[first : first + batch_size].to(device)
                logits = model(input_ids=batch, use_cache=False).logits[:, :-1].float()
                targets = batch[:, 1:]
                nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
                total_nll += float(nll.double().sum())
    finally:
        model.train(was_training)
    n_tokens = n_windows * (seq_len - 1)
    mean_nll = total_nll / n_tokens
    return {"ppl": math.exp(mean_nll), "nll": mean_nll, "n_windows": n_windows, "n_tokens": n_tokens}


def perplexity(
    model: torch.nn.Module,
    tokenizer: Any = None,
    source: str | os.PathLike | None = None,
    **options: Any,
) -> float:
    """Perplexity of ``model`` on a held-out text: :func:`perplexity_report`'s ``"ppl"``, with the same keyword
    arguments (``text``, ``token_ids``, ``seq_len``, ``max_windows``, ``batch_size``, ``show_progress``).

    Example:
        >>> perplexity(model, tokenizer, "builtin:prideprejudice", seq_len=128, max_windows=200)  # doctest: +SKIP
        37.95...
    """
    return float(perplexity_report(model, tokenizer, source, **options)["ppl"])
