"""The three roles of the shipped texts and task items: the rule, and refusing the test split for choices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from optimum_hywia.data import builtin_text
from optimum_hywia.evaluation.splits import (
    PPL_SOURCES,
    SOURCE_SPLITS,
    TEST,
    VALIDATION,
    check_split,
    ppl_sources,
)
from optimum_hywia.text_sources import BUILTIN_TEXTS


@pytest.mark.parametrize("purpose", ["study", "sweep", "default"])
def test_a_choice_on_the_test_split_is_refused(purpose):
    with pytest.raises(ValueError, match=f"A {purpose} chooses something.*got split='test'"):
        check_split(TEST, purpose=purpose)
    assert check_split(VALIDATION, purpose=purpose) == VALIDATION


def test_final_tables_run_on_either_split_and_nothing_else():
    assert check_split(TEST) == TEST and check_split(VALIDATION) == VALIDATION
    with pytest.raises(ValueError, match="Unknown split 'heldout'; allowed: validation, test"):
        check_split("heldout")
    with pytest.raises(ValueError, match="Unknown purpose 'tuning'"):
        check_split(VALIDATION, purpose="tuning")


def test_test_perplexity_texts_share_nothing_with_validation_or_calibration_texts():
    test_files = {f for source in PPL_SOURCES[TEST].values() for domain in BUILTIN_TEXTS[source[8:]] for f in domain}
    used = {f for name in ("austen", "mixed", "validation", "prideprejudice", "jargon")
            for domain in BUILTIN_TEXTS[name] for f in domain}
    assert test_files and not test_files & used
    jargon_test = builtin_text("jargon_test")
    for other in ("jargon", "jargon_validation", "mixed"):
        assert jargon_test[1000:1200] not in builtin_text(other)
    assert ppl_sources(TEST) == {"in_domain": "builtin:mansfieldpark", "out_of_domain": "builtin:jargon_test"}


def test_every_task_source_has_one_role():
    assert set(SOURCE_SPLITS.values()) == {TEST, VALIDATION}
    assert all(name in BUILTIN_TEXTS or name == "jargon_heldout" for name in SOURCE_SPLITS)


REPO_ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(name: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m benchmarks.<name> ...` from the repository root, as the docs say to run it."""
    return subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT)


@pytest.mark.parametrize("script", ["plan_pick", "fusion_budget", "benchmark_uniform"])
def test_studies_and_sweeps_refuse_the_test_split_before_loading_anything(script):
    run = run_benchmark(script, "--split", "test")
    assert run.returncode == 2  # argparse's usage error: nothing loaded, nothing written
    assert "runs on the validation split only; got split='test'" in run.stderr


def test_the_final_tables_take_the_test_split():
    run = run_benchmark("benchmark_recovery", "--split", "heldout")
    assert run.returncode == 2 and "invalid choice: 'heldout'" in run.stderr
