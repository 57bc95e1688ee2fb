"""Paired margins: the bootstrap over items and seeds on cases that can be checked by hand, and its words."""

from __future__ import annotations

import numpy as np
import pytest

from optimum_hywia.evaluation.paired import Margin, paired_margin


def test_a_constant_difference_has_a_zero_width_interval():
    a = {s: {"t": [1, 1, 1, 1], "u": [1, 0]} for s in (0, 1, 2)}
    b = {s: {"t": [0, 0, 0, 0], "u": [1, 0]} for s in (0, 1, 2)}
    margin = paired_margin(a, b, resamples=500)
    # mean over tasks of the per-task margin: (1 + 0) / 2, whatever is resampled
    assert margin.mean == 0.5 and margin.ci95 == (0.5, 0.5) and margin.p_win == 1.0
    assert margin.established and margin.n_items == 6 and margin.seeds == [0, 1, 2]


def test_two_items_one_up_one_even_give_the_binomial_bootstrap():
    # d = [1, 0]: a resample of two items has mean 0, 0.5 or 1 with probability 1/4, 1/2, 1/4
    margin = paired_margin({0: {"t": [1, 0]}}, {0: {"t": [0, 0]}}, resamples=20_000, seed=3)
    assert margin.mean == 0.5
    assert margin.ci95 == (0.0, 1.0)
    assert margin.p_win == pytest.approx(0.75, abs=0.01)
    assert not margin.established  # the interval touches 0


def test_only_seeds_both_methods_finished_are_paired():
    a = {0: {"t": [1, 1]}, 1: {"t": [1, 1]}, 2: {"t": [0, 0]}}
    b = {0: {"t": [0, 0]}, 1: {"t": [0, 0]}}
    margin = paired_margin(a, b, resamples=200)
    assert margin.seeds == [0, 1] and margin.mean == 1.0


def test_seed_resampling_widens_the_interval_when_seeds_disagree():
    items = 400
    a = {0: {"t": [1] * items}, 1: {"t": [0] * items}}
    b = {0: {"t": [0] * items}, 1: {"t": [0] * items}}
    margin = paired_margin(a, b, resamples=4000)
    assert margin.mean == 0.5
    # the seeds' weights are (2,0), (1,1), (0,2) / 2 with probability 1/4, 1/2, 1/4: margins 1, 0.5 and 0
    assert margin.ci95 == (0.0, 1.0) and margin.p_win == pytest.approx(0.75, abs=0.03)


def test_a_large_paired_sample_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    n = 3000
    base = rng.integers(0, 2, n)
    flips = rng.random(n) < 0.1  # B differs from A on 10% of the items
    a = {0: {"t": base.tolist()}}
    b = {0: {"t": np.where(flips, 1 - base, base).tolist()}}
    d = np.asarray(a[0]["t"], float) - np.asarray(b[0]["t"], float)
    margin = paired_margin(a, b, resamples=4000)
    half = 1.96 * d.std() / np.sqrt(n)
    assert margin.mean == pytest.approx(d.mean())
    assert margin.ci95[0] == pytest.approx(d.mean() - half, abs=0.004)
    assert margin.ci95[1] == pytest.approx(d.mean() + half, abs=0.004)


@pytest.mark.parametrize("a, b, match", [
    ({0: {"t": [1]}}, {1: {"t": [1]}}, "No seed scored by both"),
    ({0: {"t": [1, 0]}}, {0: {"t": [1]}}, "same non-empty list of items"),
    ({0: {"t": [1]}}, {0: {"u": [1]}}, "missing at seed 0"),
])
def test_unpaired_inputs_are_one_clear_error(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_margin(a, b, resamples=100)


def test_the_words_follow_the_interval_mechanically():
    ahead = Margin(mean=0.012, ci95=(0.001, 0.023), p_win=0.98, seeds=[0, 1, 2], n_items=3000, resamples=100)
    even = Margin(mean=0.012, ci95=(-0.001, 0.023), p_win=0.96, seeds=[0, 1, 2], n_items=3000, resamples=100)
    assert ahead.words() == "+1.20 points [+0.10, +2.30], established; ahead in 98% of resamples"
    assert even.words().startswith("+1.20 points [-0.10, +2.30], not established")
    assert ahead.to_dict(scale=100)["ci95"] == pytest.approx([0.1, 2.3])
    assert ahead.to_dict(scale=100)["established"] is True
