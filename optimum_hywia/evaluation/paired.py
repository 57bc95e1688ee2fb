"""Paired margins between two methods: a bootstrap over items and seeds, and the words a table may use for them.

Method A and method B are scored on the same items of the same tasks after pruning with the same calibration seeds.
The margin is the difference of their mean zero-shot accuracy, the mean over tasks of each task's accuracy (the
paper's "mean accuracy"). Its 95% interval comes from resampling, together, the seeds (with replacement, among the
seeds both methods finished) and the items of each task (with replacement, the same items for every seed), so the
interval carries both the item noise and the seed noise. A margin is *established* only when its interval excludes 0.

Example:
    >>> a = {0: {"t": [1, 1, 1, 0]}}
    >>> b = {0: {"t": [0, 1, 1, 0]}}
    >>> margin = paired_margin(a, b, resamples=2000)
    >>> margin.mean, margin.n_items, margin.seeds
    (0.25, 4, [0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

# per seed -> per task -> one score per item (0/1 correctness, or any per-item number)
ItemScores = Mapping[int, Mapping[str, Sequence[float]]]
DEFAULT_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Margin:
    """A paired margin A − B (fractions for accuracies) with its 95% bootstrap interval and the share of resamples
    where A is ahead."""

    mean: float
    ci95: tuple[float, float]
    p_win: float
    seeds: list[int]
    n_items: int
    resamples: int

    @property
    def established(self) -> bool:
        """Whether the interval excludes 0."""
        return self.ci95[0] > 0 or self.ci95[1] < 0

    def to_dict(self, scale: float = 1.0) -> dict:
        """``{"mean", "ci95", "p_win", ...}`` with the mean and interval multiplied by ``scale`` (100: points)."""
        out = asdict(self)
        out.update(mean=self.mean * scale, ci95=[self.ci95[0] * scale, self.ci95[1] * scale],
                   established=self.established)
        return out

    def words(self, unit: str = "points", scale: float = 100.0) -> str:
        """The margin as a table writes it: ``+1.20 points [+0.10, +2.30], established; A ahead in 98% of resamples``.

        The verdict follows the interval alone: "established" when it excludes 0, else "not established".
        """
        lo, hi = self.ci95[0] * scale, self.ci95[1] * scale
        verdict = "established" if self.established else "not established"
        return (f"{self.mean * scale:+.2f} {unit} [{lo:+.2f}, {hi:+.2f}], {verdict}; "
                f"ahead in {100 * self.p_win:.0f}% of resamples")


def _paired_matrix(a: ItemScores, b: ItemScores, seeds: list[int]) -> dict[str, np.ndarray]:
    """Per task, A − B as a ``[seeds, items]`` array; every seed must score the same items of the same tasks."""
    tasks = sorted(a[seeds[0]])
    out = {}
    for task in tasks:
        rows = []
        for seed in seeds:
            if task not in a[seed] or task not in b[seed]:
                raise ValueError(f"Task {task!r} is missing at seed {seed} in one of the methods.")
            left, right = np.asarray(a[seed][task], dtype=float), np.asarray(b[seed][task], dtype=float)
            if left.shape != right.shape or left.ndim != 1 or left.size == 0:
                raise ValueError(f"Task {task!r}, seed {seed}: {left.shape} vs {right.shape} items; both methods must "
                                 "score the same non-empty list of items.")
            rows.append(left - right)
        if len({row.size for row in rows}) != 1:
            raise ValueError(f"Task {task!r} has a different number of items at different seeds.")
        out[task] = np.stack(rows)
    return out


def paired_margin(a: ItemScores, b: ItemScores, resamples: int = DEFAULT_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> Margin:
    """Mean over tasks of A − B, paired by seed and item, with a 95% bootstrap interval over items and seeds.

    ``a`` and ``b`` map calibration seed -> task -> per-item scores; only the seeds both hold are used.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"No seed scored by both methods (A: {sorted(a)}, B: {sorted(b)}).")
    if resamples < 100:
        raise ValueError(f"resamples must be >= 100 for a 95% interval, got {resamples}.")
    diffs = _paired_matrix(a, b, seeds)
    rng = np.random.default_rng(seed)
    n_seeds = len(seeds)
    # each resample: a multiset of seeds (as weights) and, per task, a multiset of items
    seed_weights = np.stack([np.bincount(row, minlength=n_seeds) for row in
                             rng.integers(0, n_seeds, size=(resamples, n_seeds))]) / n_seeds
    per_task = []
    for task in sorted(diffs):
        matrix = diffs[task]  # [seeds, items]
        by_item = seed_weights @ matrix  # [resamples, items]: each item's difference averaged over drawn seeds
        picks = rng.integers(0, matrix.shape[1], size=(resamples, matrix.shape[1]))
        per_task.append(np.take_along_axis(by_item, picks, axis=1).mean(axis=1))
    boot = np.mean(per_task, axis=0)
    mean = float(np.mean([matrix.mean() for matrix in diffs.values()]))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return Margin(mean=mean, ci95=(float(lo), float(hi)), p_win=float(np.mean(boot > 0)), seeds=seeds,
                  n_items=sum(matrix.shape[1] for matrix in diffs.values()), resamples=resamples)
