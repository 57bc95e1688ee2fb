"""Recovery by distillation: the KL loss by hand, top-k targets, precomputed = on the fly, a frozen teacher that
stays unpruned, the CLI line and the card's recovery block."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainingArguments

from optimum_hywia import HyWIACallback, HyWIAConfig, HyWIATrainer
from optimum_hywia.commands.cli import main
from optimum_hywia.training.distillation import (
    DistillationConfig,
    TeacherTargets,
    WithTeacherTargets,
    copy_teacher,
    distillation_loss,
    kl_per_token,
    precompute_teacher_targets,
    rows_within_budget,
    teacher_targets,
)
from optimum_hywia.hub.card import build_model_card
from optimum_hywia.hub.facts import PruningFacts

from tiny_models import VOCAB, save_tiny_checkpoint, tiny_model

CLI_ARGS = ["--pruning-ratio", "0.5", "--importance", "magnitude_l1", "--skip-first-layers", "1",
            "--skip-last-layers", "1", "--eval-windows", "2", "--eval-data", "builtin:prideprejudice"]


def test_kl_on_a_two_token_vocabulary_by_hand():
    teacher = torch.tensor([[[0.0, 0.0]]])  # p = (1/2, 1/2)
    student = torch.tensor([[[0.0, math.log(3.0)]]])  # q = (1/4, 3/4)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)  # = ln(4/3) / 2
    assert kl_per_token(student, TeacherTargets(teacher), 1.0).item() == pytest.approx(expected, rel=1e-6)
    # at T = 2 both distributions soften: p stays uniform, q = softmax((0, ln 3) / 2) = (1, sqrt 3) / (1 + sqrt 3)
    q = [1 / (1 + math.sqrt(3.0)), math.sqrt(3.0) / (1 + math.sqrt(3.0))]
    soft = 0.5 * math.log(0.5 / q[0]) + 0.5 * math.log(0.5 / q[1])
    loss = distillation_loss(student, TeacherTargets(teacher), DistillationConfig(temperature=2.0))
    assert loss.item() == pytest.approx(4 * soft, rel=1e-6)  # scaled by T²
    assert kl_per_token(teacher, TeacherTargets(teacher), 1.0).item() == pytest.approx(0.0, abs=1e-7)


def test_top_k_targets_over_the_whole_vocabulary_equal_the_full_kl_and_a_mask_drops_positions():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 5, 11, generator=generator), torch.randn(2, 5, 11, generator=generator)
    full = kl_per_token(student, teacher_targets(teacher), 1.5)
    assert kl_per_token(student, teacher_targets(teacher, 11), 1.5) == pytest.approx(full)
    top3 = teacher_targets(teacher, 3)
    assert top3.values.shape == (2, 5, 3) and torch.equal(top3.values, teacher.topk(3, dim=-1).values)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    config = DistillationConfig(temperature=1.5)
    masked = distillation_loss(student, teacher_targets(teacher), config, mask)
    assert masked.item() == pytest.approx(float(full[mask.bool()].mean()) * 1.5**2, rel=1e-6)


@pytest.mark.parametrize("bad, match", [({"temperature": 0}, "temperature"), ({"lm_weight": -1}, "lm_weight"),
                                        ({"teacher_logits": "disk"}, "teacher_logits"), ({"top_k": 0}, "top_k")])
def test_bad_settings_are_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        DistillationConfig(**bad)
    assert DistillationConfig(teacher_logits="precomputed").top_k == 64


def _rows(n: int = 6, length: int = 12) -> list[dict]:
    ids = torch.randint(0, VOCAB, (n, length), generator=torch.Generator().manual_seed(3))
    return [{"input_ids": row, "labels": row} for row in ids]


def test_precomputed_top_k_gives_the_same_loss_as_on_the_fly(tmp_path):
    teacher = copy_teacher(tiny_model("llama_gqa", seed=1), dtype="float32")
    student = tiny_model("llama_gqa", seed=2)
    rows = _rows()
    config = DistillationConfig(temperature=2.0, teacher_logits="precomputed", top_k=8)
    stored = WithTeacherTargets(rows, precompute_teacher_targets(teacher, rows, tmp_path, top_k=8, batch_size=4))
    args = TrainingArguments(str(tmp_path / "run"), report_to=[], use_cpu=True)
    on_the_fly = HyWIATrainer(student, args, teacher_model=teacher,
                              distillation=DistillationConfig(temperature=2.0, top_k=8))
    precomputed = HyWIATrainer(student, args, distillation=config)
    for index in range(len(rows)):
        batch = {key: value[None] for key, value in stored[index].items()}
        plain = {key: value[None] for key, value in rows[index].items()}
        # the stored values are bfloat16: the losses agree to its precision
        assert precomputed.compute_loss(student, dict(batch)).item() == pytest.approx(
            on_the_fly.compute_loss(student, dict(plain)).item(), rel=2e-2)
    with pytest.raises(ValueError, match="holds teacher logits for 6 rows"):
        WithTeacherTargets(rows[:2], tmp_path / "teacher_topk.safetensors")


def test_the_teacher_stays_unpruned_and_frozen_while_the_callback_prunes_the_student(tmp_path):
    student = tiny_model("llama_gqa")
    teacher = copy_teacher(student, dtype="float32")
    before = {name: p.detach().clone() for name, p in teacher.named_parameters()}
    config = HyWIAConfig(pruning_ratio=0.5, importance="element1", skip_first_layers=1, skip_last_layers=1)
    args = TrainingArguments(str(tmp_path / "run"), max_steps=6, per_device_train_batch_size=2, report_to=[],
                             use_cpu=True, logging_steps=1, save_strategy="no", learning_rate=1e-3)
    trainer = HyWIATrainer(student, args, train_dataset=_rows(8), teacher_model=teacher,
                           callbacks=[HyWIACallback(config, prune_at_step=2)])
    trainer.train()
    pruned = trainer.model
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in teacher.parameters())
    for name, parameter in teacher.named_parameters():
        assert not parameter.requires_grad and torch.equal(parameter, before[name]), name
    assert not teacher.training
    recorded = pruned.config.hywia["recovery"]  # the recipe reaches the config (and so the card)
    assert recorded["method"] == "distill" and recorded["temperature"] == 2.0 and recorded["max_steps"] == 6
    trainer.save_model(str(tmp_path / "saved"))
    card = (tmp_path / "saved" / "README.md").read_text()
    assert "## Recovery" in card and "distill, 6 steps, temperature 2.0, all weights" in card
    logged = {entry["step"]: entry for entry in trainer.state.log_history if "loss" in entry}
    # the language-model loss until the callback has pruned (its statistics), the KL after it
    assert [step for step, entry in sorted(logged.items()) if "kl" in entry] == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="must be frozen"):
        HyWIATrainer(tiny_model("llama_gqa"), args, teacher_model=tiny_model("llama_gqa"))


def test_prune_with_distillation_on_the_cli_saves_a_model_that_loads_by_name_with_its_recipe(tmp_path, capsys):
    save_tiny_checkpoint(tmp_path / "tiny")
    main(["prune", "--model", str(tmp_path / "tiny"), "--output", str(tmp_path / "out"), *CLI_ARGS,
          "--recover", "distill", "--recover-steps", "3", "--recover-batch-size", "2", "--recover-seq-len", "16",
          "--recover-data", "builtin:austen", "--recover-lr", "1e-3", "--recover-temperature", "1.5",
          "--recover-teacher-logits", "precomputed", "--recover-top-k", "16"])
    captured = capsys.readouterr()
    assert "| pruned + distill |" in captured.out and "Recovery (distill): 3 steps x 2 windows" in captured.out
    assert "Teacher top-k logits" in captured.err and "3/3" in captured.err
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    recovery = model.config.hywia["recovery"]
    assert recovery["method"] == "distill" and recovery["temperature"] == 1.5 and recovery["top_k"] == 16
    assert recovery["lora"] is False and recovery["tokens"] == 3 * 2 * 16 and recovery["teacher"] == str(
        tmp_path / "tiny")
    results = json.loads((tmp_path / "out/hywia_results.json").read_text())
    assert results["recovered"]["perplexity"] != results["pruned"]["perplexity"]  # the weights moved
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Recovery" in card and "distill, 3 steps (96 tokens), temperature 1.5, all weights" in card


def test_the_card_records_the_recovery_recipe():
    facts = PruningFacts(family="llama", layer_widths=[{"intermediate_size": 8}], dense_widths=None,
                         pruned_layers=[0], params_before=10, params_after=8, method={"importance": "hywia"},
                         base_model=None, base_model_source=None, original_architecture=False,
                         recovery={"method": "distill", "max_steps": 100, "tokens": 51200, "temperature": 2.0,
                                   "lora": True, "teacher": "HuggingFaceTB/SmolLM2-135M-Instruct"})
    text = build_model_card(facts, "me/pruned").text
    assert "distill, 100 steps (51,200 tokens), temperature 2.0, LoRA" in text
    assert "| `teacher` | HuggingFaceTB/SmolLM2-135M-Instruct |" in text


def test_precomputing_reads_only_the_rows_the_budget_trains_on():
    rows = [{"input_ids": torch.full((4,), i)} for i in range(50)]
    picked = rows_within_budget(rows, max_steps=3, batch_size=4, seed=1)
    assert len(picked) == 12 and len({int(r["input_ids"][0]) for r in picked}) == 12
    assert [int(r["input_ids"][0]) for r in picked] == [
        int(r["input_ids"][0]) for r in rows_within_budget(rows, max_steps=3, batch_size=4, seed=1)]
    assert len(rows_within_budget(rows, max_steps=100, batch_size=4)) == 50  # the budget covers the dataset
