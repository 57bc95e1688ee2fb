"""Fast log-likelihoods for lm-eval: each context encoded once for all its endings, several items per forward pass.

lm-eval's ``HFLM`` scores every (context, ending) pair as its own sequence, so a four-way item runs its context four
times, and computes the vocabulary logits of every position. :class:`PackedHFLM` keeps lm-eval's tasks, tokenisation,
metrics and aggregation and replaces only ``_loglikelihood_tokens``: the requests that share a context become one
segment: the context, then the endings' input tokens as a prefix tree (endings that begin alike share those tokens),
each token seeing the context and its own ending's earlier tokens only (a 4-D attention mask, positions restarting
after the context for each ending); segments are packed into rows of at most
``max_tokens`` tokens, items never seeing each other; and the language-model head runs only where an ending's token
is predicted (``logits_to_keep``). Under ``torch.autocast`` when lm-eval's ``mixed_precision_dtype`` is set (bfloat16
where the hardware has it), like lm-eval's own path.

Packing needs a model that takes ``position_ids``, a 4-D mask and ``logits_to_keep`` and whose attention depends on
positions only through them (RoPE models do; ALiBi models such as Bloom derive positions from a 2-D mask). The first
groups are scored both ways and compared: a model for which packing changes the numbers falls back to lm-eval's own
path for the whole run, with a warning. Items longer than a sliding attention window (Gemma 3's local layers) are
scored through lm-eval's path too, since the packed mask replaces the window's.

Example:
    >>> lm = PackedHFLM(pretrained=model, tokenizer=tokenizer)                          # doctest: +SKIP
    >>> lm_eval.simple_evaluate(model=lm, tasks=["austen_names"])                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from lm_eval.models.huggingface import HFLM
from tqdm.auto import tqdm

Request = tuple[tuple[str, str], list[int], list[int]]  # ((context, continuation), context ids, continuation ids)
DEFAULT_MAX_TOKENS = 512
CHECK_GROUPS = 4  # groups scored both ways before trusting packing
CHECK_TOLERANCE = 2e-3  # relative log-likelihood difference allowed between packed and plain scoring (fp32)
BF16_CHECK_TOLERANCE = 5e-2  # the same for a bfloat16 model, whose rounding differs with the shapes
BF16_CHECK_FLOOR = 0.5  # and at least this many nats: a short ending's log-likelihood is a few nats
logger = logging.getLogger(__name__)


@dataclass
class _Group:
    """The requests that share one context: their indices and their continuations."""

    context: list[int]
    members: list[int]  # indices into the request list
    continuations: list[list[int]]


@dataclass
class _Segment:
    """One group as packed tokens: the context, then a prefix tree of the endings' input tokens (endings that
    start alike share those tokens), and which earlier tokens each token may see."""

    tokens: list[int]
    positions: list[int]
    visible: np.ndarray  # [n, n] bool
    # per request: (request index, segment-local positions whose logits predict its tokens, its tokens)
    targets: list[tuple[int, list[int], list[int]]]


def _segment(group: _Group) -> _Segment:
    n_context = len(group.context)
    tokens, positions, parents = list(group.context), list(range(n_context)), []
    children: dict[tuple[int, int], int] = {}
    targets = []
    for index, continuation in zip(group.members, group.continuations):
        parent, predictors = -1, [n_context - 1]
        for token in continuation[:-1]:
            node = children.get((parent, token))
            if node is None:
                node = children[(parent, token)] = len(tokens)
                tokens.append(token)
                positions.append(n_context + len(predictors) - 1)
                parents.append(parent)
            predictors.append(node)
            parent = node
        targets.append((index, predictors, continuation))
    visible = np.zeros((len(tokens), len(tokens)), dtype=bool)
    visible[:n_context, :n_context] = np.tri(n_context, dtype=bool)
    visible[n_context:, :n_context] = True
    for node, parent in enumerate(parents, start=n_context):  # a parent is always packed before its children
        if parent >= 0:
            visible[node] |= visible[parent]
        visible[node, node] = True
    return _Segment(tokens, positions, visible, targets)


@dataclass
class _Row:
    segments: list[_Segment] = field(default_factory=list)

    @property
    def length(self) -> int:
        return sum(len(s.tokens) for s in self.segments)


def _groups(requests: list[Request]) -> list[_Group]:
    by_context: dict[tuple[int, ...], _Group] = {}
    for index, (_, context, continuation) in enumerate(requests):
        group = by_context.setdefault(tuple(context), _Group(list(context), [], []))
        group.members.append(index)
        group.continuations.append(list(continuation))
    return list(by_context.values())


def _rows(groups: list[_Group], max_tokens: int) -> Iterator[_Row]:
    """Longest segments first, each row filled up to ``max_tokens`` (a longer segment gets a row of its own)."""
    row = _Row()
    for segment in sorted((_segment(g) for g in groups), key=lambda s: -len(s.tokens)):
        if row.segments and row.length + len(segment.tokens) > max_tokens:
            yield row
            row = _Row()
        row.segments.append(segment)
    if row.segments:
        yield row


def _packed_inputs(row: _Row) -> tuple[list[int], list[int], np.ndarray, list[tuple[int, list[int], list[int]]]]:
    """Tokens, positions, the block-diagonal visibility and the targets (row positions) of a packed row."""
    tokens, positions, targets = [], [], []
    visible = np.zeros((row.length, row.length), dtype=bool)
    for segment in row.segments:
        offset = len(tokens)
        tokens += segment.tokens
        positions += segment.positions
        size = len(segment.tokens)
        visible[offset : offset + size, offset : offset + size] = segment.visible
        targets += [(index, [offset + p for p in where], continuation)
                    for index, where, continuation in segment.targets]
    return tokens, positions, visible, targets


def _attention_mask(visible: np.ndarray, as_bool: bool, dtype: torch.dtype) -> torch.Tensor:
    """[1, 1, T, T] from the visibility matrix: a boolean mask for SDPA, an additive one for eager attention."""
    allowed = torch.from_numpy(visible)
    if as_bool:
        return allowed[None, None]
    mask = torch.zeros(allowed.shape, dtype=dtype)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)[None, None]


class PackedHFLM(HFLM):
    """lm-eval's ``HFLM`` with packed, context-sharing log-likelihoods (see the module docstring).

    Takes every ``HFLM`` argument (``mixed_precision_dtype="bfloat16"`` runs the passes under ``torch.autocast``) and
    ``max_tokens``, the tokens per packed row.

    Example:
        >>> lm = PackedHFLM(pretrained=model, tokenizer=tokenizer, mixed_precision_dtype="bfloat16")  # doctest: +SKIP
    """

    def __init__(self, *args, max_tokens: int = DEFAULT_MAX_TOKENS, **kwargs):
        super().__init__(*args, **kwargs)
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be >= 2, got {max_tokens}.")
        self.max_tokens = max_tokens
        self.packing: bool | None = None  # decided on the first requests

    def _autocast(self):
        if self.mixed_precision_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype)

    def _score_row(self, row: _Row) -> list[tuple[int, float, bool]]:
        model = self.model
        sdpa = getattr(model.config, "_attn_implementation", "eager") == "sdpa"
        tokens, positions, visible, targets = _packed_inputs(row)
        keep = sorted({p for _, where, _ in targets for p in where})
        where = {p: k for k, p in enumerate(keep)}
        with torch.no_grad(), self._autocast():
            logits = model(
                input_ids=torch.tensor([tokens], device=self.device),
                position_ids=torch.tensor([positions], device=self.device),
                attention_mask=_attention_mask(visible, sdpa, model.dtype).to(self.device),
                logits_to_keep=torch.tensor(keep, device=self.device),
                use_cache=False,
            ).logits[0]
        logprobs = F.log_softmax(logits.float(), dim=-1)
        greedy = logprobs.argmax(dim=-1)
        out = []
        for index, predictors, continuation in targets:
            picked = torch.tensor([where[p] for p in predictors], device=logprobs.device)
            wanted = torch.tensor(continuation, device=logprobs.device)
            score = logprobs[picked].gather(1, wanted[:, None]).sum()
            out.append((index, float(score), bool((greedy[picked] == wanted).all())))
        return out

    def _fits(self, group: _Group) -> bool:
        """Whether packing ``group`` changes nothing: no left truncation, and no token farther from another it sees
        than a sliding attention window (a custom mask replaces the model's window mask)."""
        window = getattr(self.model.config, "sliding_window", None) or self.max_length + 1
        limit = min(self.max_length + 1, window)
        return all(len(group.context) + len(c) <= limit for c in group.continuations)

    def _packing_agrees(self, requests: list[Request], groups: list[_Group]) -> bool:
        """Score the first groups packed and through lm-eval's path; packing is trusted only if they agree."""
        probe = groups[:CHECK_GROUPS]
        indices = [i for g in probe for i in g.members]
        packed = {i: (s, g) for row in _rows(probe, self.max_tokens) for i, s, g in self._score_row(row)}
        plain = super()._loglikelihood_tokens([requests[i] for i in indices], disable_tqdm=True)
        full_precision = self.mixed_precision_dtype is None and self.model.dtype == torch.float32
        relative, floor = (CHECK_TOLERANCE, CHECK_TOLERANCE) if full_precision else (BF16_CHECK_TOLERANCE,
                                                                                     BF16_CHECK_FLOOR)
        return all(abs(packed[i][0] - p[0]) <= max(floor, relative * abs(p[0])) for i, p in zip(indices, plain))

    def _loglikelihood_tokens(self, requests: list[Request], disable_tqdm: bool = False,
                              override_bs: int | None = None) -> list[tuple[float, bool]]:
        groups = _groups(requests)
        if self.packing is None:
            try:
                self.packing = self._packing_agrees(requests, groups)
                if not self.packing:
                    logger.warning("Packed scoring disagrees with lm-eval's path on this model; using lm-eval's path.")
            except (TypeError, ValueError, RuntimeError) as err:  # the model's forward refuses the packed inputs
                logger.warning("Packed scoring failed on this model (%s); using lm-eval's own path.", err)
                self.packing = False
        packable = [g for g in groups if self.packing and self._fits(g)]
        rest = [i for g in groups if not (self.packing and self._fits(g)) for i in g.members]
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        rows = list(_rows(packable, self.max_tokens))
        progress = tqdm(total=len(requests) - len(rest), desc="Scoring (packed)", unit="request",
                        disable=disable_tqdm or not rows)
        for row in rows:
            scored_row = self._score_row(row)
            for index, score, greedy in scored_row:
                results[index] = (score, greedy)
            progress.update(len(scored_row))
        progress.close()
        if rest:
            scored = super()._loglikelihood_tokens([requests[i] for i in rest], disable_tqdm=disable_tqdm,
                                                   override_bs=override_bs)
            for index, answer in zip(rest, scored):
                results[index] = answer
        return results  # type: ignore[return-value]
