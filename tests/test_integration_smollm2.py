"""Integration: the real SmolLM2-135M (builtin:smollm2-135m), pruned 20% by magnitude."""

import pytest
import torch

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.evaluation import perplexity

pytestmark = pytest.mark.integration
WINDOWS = 16


@pytest.fixture(scope="module")
def smollm2():
    from optimum_hywia.data import load_model_and_tokenizer

    return load_model_and_tokenizer("builtin:smollm2-135m")


def test_prune_20_percent_by_magnitude_still_generates(smollm2, tmp_path):
    model, tokenizer = smollm2
    dense_ppl = perplexity(model, tokenizer, "builtin:prideprejudice", max_windows=WINDOWS, show_progress=False)
    assert 10 < dense_ppl < 100  # 37.95 on 200 windows
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.2, importance="magnitude_l1"))
    model = pruner.prune(model, tokenizer=tokenizer)
    assert 0.80 < pruner.summary.kept_fraction < 0.90
    assert [w["intermediate_size"] for w in model.config.layer_widths[3:28]] == [1229] * 25
    pruned_ppl = perplexity(model, tokenizer, "builtin:prideprejudice", max_windows=WINDOWS, show_progress=False)
    assert torch.isfinite(torch.tensor(pruned_ppl)) and pruned_ppl > dense_ppl
    prompt = tokenizer("It is a truth universally acknowledged", return_tensors="pt")
    generated = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] == prompt["input_ids"].shape[1] + 8
    pruner.save_pretrained(model, tmp_path / "pruned", tokenizer=tokenizer)
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned")
    with torch.no_grad():
        assert torch.equal(reloaded(generated).logits, model(generated).logits)


def test_the_trained_fusion_beats_its_untrained_start_on_held_out_windows():
    """The fusion learns: after training, the learned plan's loss on the selection windows (another text than the
    calibration text) is lower than the untrained attention's. Cheap settings; it fails if training does not help."""
    from optimum_hywia.data import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("builtin:smollm2-135m")  # a fresh copy: other tests prune theirs
    config = HyWIAConfig(pruning_ratio=0.5, num_calibration_samples=8, fusion_steps=8, fusion_eval_every=8,
                         choose_plan=False)
    pruner = HyWIAPruner(config)
    result = pruner.score(pruner.scoring_context(model, None, tokenizer))
    judged = [entry for entry in result.report["fusion_history"] if "holdout_loss" in entry]
    assert [entry["step"] for entry in judged] == [0, 8]
    untrained, trained = judged[0]["holdout_loss"], judged[-1]["holdout_loss"]
    assert trained < untrained
