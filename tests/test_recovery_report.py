"""The recovery comparison of benchmarks/recovery_report.py on rows whose answer is known by hand."""

import pytest

from benchmarks.recovery_report import recovery_comparison, recovery_lines


def _row(method, recovery, before, after, ratio=0.5, seed=0, acc=0.5):
    row = {"model": "m", "ratio": ratio, "method": method, "seed": seed, "recovery": recovery,
           "wall_s": {"recover": 60.0}, "peak_rss_mb": {"recover": 1000.0},
           "before": None if before is None else {"ppl_in": before, "ppl_out": before},
           "after": {"mean_acc": acc, "ppl_in": after, "ppl_out": after}}
    return row


def test_gap_closed_and_gap_left_against_lora_are_shares_of_the_log_perplexity_gap():
    # dense 10, pruned 1000: a log gap of 2 decades; LoRA leaves 1 decade (100), distillation half a decade
    rows = [_row("dense", "lora", None, 10.0, ratio=0.0),
            _row("hywia", "lora", 1000.0, 100.0),
            _row("hywia", "distill_full", 1000.0, 10 ** 1.5),
            _row("hywia", "none", 1000.0, 1000.0)]
    found = {e["recovery"]: e for e in recovery_comparison(rows)}
    assert set(found) == {"lora", "distill_full", "none"}
    assert found["lora"]["ppl_in_gap_closed"] == pytest.approx(0.5)
    assert found["distill_full"]["ppl_in_gap_closed"] == pytest.approx(0.75)
    assert found["distill_full"]["ppl_in_gap_vs_lora"] == pytest.approx(0.5)
    assert found["none"]["ppl_out_gap_closed"] == pytest.approx(0.0)
    assert found["none"]["wall_s_recover"] == "0"


def test_no_comparison_without_two_recoveries_or_a_dense_row():
    one_recovery = [_row("dense", "lora", None, 10.0, ratio=0.0), _row("hywia", "lora", 1000.0, 100.0)]
    no_dense = [_row("hywia", "lora", 1000.0, 100.0), _row("hywia", "distill_lora", 1000.0, 50.0)]
    assert recovery_comparison(one_recovery) == [] and recovery_lines(one_recovery) == []
    assert recovery_comparison(no_dense) == []


def test_rows_without_a_recovery_field_count_as_lora():
    rows = [_row("dense", "lora", None, 10.0, ratio=0.0), _row("hywia", "distill_lora", 1000.0, 50.0),
            {**_row("hywia", None, 1000.0, 100.0, seed=1)}]
    del rows[2]["recovery"]
    found = {e["recovery"]: e for e in recovery_comparison(rows)}
    assert found["lora"]["seeds"] == [1]
    assert "| m | 0.5 | hywia | distill_lora | 0 |" in "\n".join(recovery_lines(rows))


def test_the_gap_against_lora_compares_the_same_seeds():
    rows = [_row("dense", "lora", None, 10.0, ratio=0.0),
            _row("hywia", "lora", 1000.0, 100.0, seed=0), _row("hywia", "lora", 1000.0, 1000.0, seed=1),
            _row("hywia", "distill_lora", 1000.0, 10 ** 1.5, seed=0), _row("hywia", "distill_full", 1000.0, 20.0, seed=2)]
    found = {e["recovery"]: e for e in recovery_comparison(rows)}
    assert found["distill_lora"]["ppl_in_gap_vs_lora"] == pytest.approx(0.5)  # against seed 0's LoRA alone
    assert "ppl_in_gap_vs_lora" not in found["distill_full"]  # no LoRA row on seed 2
