"""Zero-shot through lm-eval on the shipped offline tasks, standard tasks offline, perplexity sets and metric."""

from __future__ import annotations

import json
import math

import pytest
import torch

from optimum_hywia.data import HubDatasetUnavailableError, builtin_text
from optimum_hywia.evaluation import (
    OFFLINE_CHANCE,
    OFFLINE_TASKS,
    STANDARD_TASKS,
    load_ppl_text,
    perplexity,
    perplexity_metric_path,
    zero_shot,
)
from tools.build_tasks import TASK_FILES, shipped_dir
from optimum_hywia.evaluation.splits import TEST, VALIDATION, split_items

from tiny_models import tiny_model, tiny_tokenizer

LIMIT = 4


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama_gqa", max_position_embeddings=1536)  # context + choice: up to ~1,050 characters


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def _items(task: str, split: str = TEST) -> list[dict]:
    lines = (shipped_dir() / TASK_FILES[task]).read_text(encoding="utf-8").splitlines()
    return split_items(task, [json.loads(line) for line in lines], split)[:LIMIT]


def _continuation_scores(model, tokenizer, context: str, continuation: str) -> tuple[float, bool]:
    """Log-likelihood of `continuation` after `context`, and whether greedy decoding produces it."""
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids[:, :-1]).logits[0, len(ctx) - 1 :].double(), dim=-1)
    target = torch.tensor(cont)
    return float(logprobs.gather(1, target[:, None]).sum()), bool((logprobs.argmax(-1) == target).all())


@pytest.fixture(scope="module")
def results(model, tokenizer):
    return zero_shot(model, tokenizer, list(OFFLINE_TASKS), limit=LIMIT, batch_size=2, log_samples=True,
                     precision="float32")


@pytest.fixture(scope="module")
def lm_eval_results(model, tokenizer):
    return zero_shot(model, tokenizer, list(OFFLINE_TASKS), limit=LIMIT, batch_size=2, log_samples=True,
                     precision="float32", backend="lm_eval")


def test_packed_scoring_agrees_with_lm_evals_own_path_item_by_item(results, lm_eval_results):
    for task in OFFLINE_TASKS:
        packed, plain = results[task]["samples"], lm_eval_results[task]["samples"]
        assert [s["doc_id"] for s in packed] == [s["doc_id"] for s in plain] == list(range(LIMIT))
        for a, b in zip(packed, plain):
            # float32 sums of hundreds of token log-probabilities: the two paths' kernels round differently by a
            # few ulps of the total (1.2e-4 on -612.35 seen on an AVX2 CPU), so the tolerance scales with it
            assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], rel=1e-6, abs=1e-4)
            assert a["greedy"] == b["greedy"] and a["correct"] == b["correct"]
        assert results[task]["value"] == lm_eval_results[task]["value"]
        assert (results[task]["backend"], lm_eval_results[task]["backend"]) == ("packed", "lm_eval")


def test_wordorder_matches_a_direct_computation(results, model, tokenizer):
    for task in ("austen_wordorder", "jargon_wordorder"):
        correct = []
        for item, sample in zip(_items(task), results[task]["samples"], strict=True):
            lls = [_continuation_scores(model, tokenizer, item["context"], " " + c)[0] for c in item["choices"]]
            assert sample["loglikelihoods"] == pytest.approx(lls, abs=1e-3)
            correct.append(float(max(range(2), key=lls.__getitem__) == item["label"]))
        assert [s["correct"] for s in results[task]["samples"]] == correct


def test_the_validation_split_scores_other_items(model, tokenizer, results):
    validation = zero_shot(model, tokenizer, ["austen_names"], limit=LIMIT, log_samples=True, precision="float32",
                           split=VALIDATION)["austen_names"]
    assert validation["split"] == VALIDATION and results["austen_names"]["split"] == TEST
    assert "validation split" in validation["dataset"]
    for item, sample in zip(_items("austen_names", VALIDATION), validation["samples"], strict=True):
        lls = [_continuation_scores(model, tokenizer, item["context"], " " + name)[0] for name in item["choices"]]
        assert sample["loglikelihoods"] == pytest.approx(lls, abs=1e-3)
    with pytest.raises(ValueError, match="Unknown split 'train'"):
        zero_shot(model, tokenizer, ["austen_names"], limit=LIMIT, split="train")


def test_a_model_that_cannot_be_packed_is_scored_through_lm_evals_path(tokenizer):
    from tiny_models import tiny_model as build

    bloom = build("bloom")  # ALiBi: positions come from the 2-D mask, so packing would change the numbers
    packed = zero_shot(bloom, tokenizer, ["austen_names"], limit=LIMIT, log_samples=True, precision="float32")
    plain = zero_shot(bloom, tokenizer, ["austen_names"], limit=LIMIT, log_samples=True, precision="float32",
                      backend="lm_eval")
    for a, b in zip(packed["austen_names"]["samples"], plain["austen_names"]["samples"], strict=True):
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=1e-5)


def test_offline_tasks_report_the_paper_metric_with_stderr(results):
    assert set(results) == set(OFFLINE_TASKS)
    assert results["austen_lastword"]["metric"] == "acc"
    assert results["austen_nextsentence"]["metric"] == "acc_norm"
    assert results["austen_names"]["metric"] == "acc" and results["jargon_nextsentence"]["metric"] == "acc_norm"
    assert set(OFFLINE_CHANCE) == set(OFFLINE_TASKS)
    for entry in results.values():
        assert entry["n_samples"] == LIMIT
        assert 0.0 <= entry["value"] <= 1.0 and entry["stderr"] is not None
        assert entry["dataset"].endswith("(test split)")


def test_lastword_matches_a_direct_computation(results, model, tokenizer):
    items = _items("austen_lastword")
    scores = [_continuation_scores(model, tokenizer, i["context"], " " + i["target"]) for i in items]
    samples = results["austen_lastword"]["samples"]
    assert [s["doc_id"] for s in samples] == list(range(LIMIT))
    assert [s["loglikelihoods"][0] for s in samples] == pytest.approx([ll for ll, _ in scores], abs=1e-3)
    metrics = results["austen_lastword"]["metrics"]
    assert metrics["perplexity"] == pytest.approx(math.exp(-sum(s for s, _ in scores) / LIMIT), rel=1e-4)
    assert metrics["acc"] == pytest.approx(sum(greedy for _, greedy in scores) / LIMIT)


def test_nextsentence_matches_a_direct_computation(results, model, tokenizer):
    samples = results["austen_nextsentence"]["samples"]
    acc, acc_norm = [], []
    for item, sample in zip(_items("austen_nextsentence"), samples, strict=True):
        lls = [_continuation_scores(model, tokenizer, item["context"], " " + e)[0] for e in item["endings"]]
        assert sample["loglikelihoods"] == pytest.approx(lls, abs=1e-3)  # same prompt, same choices, same order
        normed = [ll / len(e) for ll, e in zip(lls, item["endings"])]
        acc.append(max(range(4), key=lls.__getitem__) == item["label"])
        acc_norm.append(max(range(4), key=normed.__getitem__) == item["label"])
    metrics = results["austen_nextsentence"]["metrics"]
    assert metrics["acc"] == pytest.approx(sum(acc) / LIMIT)
    assert metrics["acc_norm"] == pytest.approx(sum(acc_norm) / LIMIT)


def test_names_match_a_direct_computation(results, model, tokenizer):
    samples = results["austen_names"]["samples"]
    acc = []
    for item, sample in zip(_items("austen_names"), samples, strict=True):
        lls = [_continuation_scores(model, tokenizer, item["context"], " " + name)[0] for name in item["choices"]]
        assert sample["loglikelihoods"] == pytest.approx(lls, abs=1e-3)
        acc.append(max(range(4), key=lls.__getitem__) == item["label"])
    assert results["austen_names"]["metrics"]["acc"] == pytest.approx(sum(acc) / LIMIT)


def test_paper_metrics_of_the_standard_tasks():
    assert {t for t, m in STANDARD_TASKS.items() if m == "acc_norm"} == {"hellaswag", "arc_challenge", "openbookqa"}
    assert {t for t, m in STANDARD_TASKS.items() if m == "acc"} == {"boolq", "piqa", "winogrande", "arc_easy"}


def test_standard_task_offline_is_one_clear_error(model, tokenizer):
    with pytest.raises(HubDatasetUnavailableError) as error:
        zero_shot(model, tokenizer, ["arc_easy", "austen_lastword"], limit=2)
    message = str(error.value)
    assert "['arc_easy']" in message and "Hugging Face Hub" in message
    assert "austen_lastword, austen_nextsentence, austen_names, jargon_nextsentence" in message


def test_unknown_task_lists_the_offline_tasks(model, tokenizer):
    with pytest.raises(ValueError, match=r"Unknown task\(s\) \['austen_lastwrod'\].*austen_lastword, austen_next"):
        zero_shot(model, tokenizer, ["austen_lastwrod"])


@pytest.mark.parametrize("bad", [[], ["austen_lastword", "austen_lastword"]])
def test_bad_task_lists_are_rejected(model, tokenizer, bad):
    with pytest.raises(ValueError, match="No task|more than once"):
        zero_shot(model, tokenizer, bad)


@pytest.mark.parametrize("name", ["wikitext2", "ptb"])
def test_hub_perplexity_sets_offline_are_one_clear_error(name):
    with pytest.raises(HubDatasetUnavailableError, match="Hugging Face Hub"):
        load_ppl_text(name)


def test_shipped_and_local_perplexity_sources(tmp_path):
    assert load_ppl_text("jargon") == builtin_text("jargon")
    assert load_ppl_text(None) == builtin_text("prideprejudice")
    (tmp_path / "notes.txt").write_text("some local text")
    assert load_ppl_text(str(tmp_path / "notes.txt")) == "some local text"


def test_evaluate_metric_module_equals_perplexity(model, tokenizer):
    import evaluate

    metric = evaluate.load(perplexity_metric_path())
    texts = [builtin_text("prideprejudice")[:3000], builtin_text("jargon")[:2000]]
    out = metric.compute(predictions=texts, model=model, tokenizer=tokenizer, seq_len=64, batch_size=4)
    expected = perplexity(model, tokenizer, text="\n\n".join(texts), seq_len=64, show_progress=False)
    assert out["perplexity"] == pytest.approx(expected, rel=1e-9)
    assert out["n_windows"] == len("\n\n".join(texts)) // 64 and out["n_tokens"] == out["n_windows"] * 63
