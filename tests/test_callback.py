"""HyWIACallback (pruning inside a Trainer run), its checkpoints, several processes, and LoRA recovery."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from callback_ddp_run import SCENARIOS, dataset, run
from tiny_models import VOCAB, tiny_model, tiny_tokenizer
from transformers import (
    AutoModelForCausalLM,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.training.callback import GRADIENTS_NAME, STATE_NAME, HyWIACallback
from optimum_hywia.modeling import is_pruned_model, save_pruned_model
from optimum_hywia.training.recovery import lora_config, prune_and_recover
from optimum_hywia.allocation.budget import nested_kept_units

BASE = dict(skip_first_layers=0, skip_last_layers=0, pruning_ratio=0.5, num_calibration_samples=8)
PROBE_IDS = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(7))


def arguments(out, **overrides) -> TrainingArguments:
    values = dict(max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3, train_sampling_strategy="sequential",
                  report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True, logging_steps=1, seed=0)
    return TrainingArguments(str(out), **{**values, **overrides})


def train(out, model, callbacks, resume=None, **overrides) -> Trainer:
    trainer = Trainer(model, arguments(out, **overrides), train_dataset=dataset(), callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def logits(model) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=PROBE_IDS).logits


def removed_columns(group_kept: torch.Tensor, num_units: int, per_unit: int) -> torch.Tensor:
    removed = sorted(set(range(num_units)) - set(group_kept.tolist()))
    return torch.tensor([u * per_unit + i for u in removed for i in range(per_unit)], dtype=torch.long)


class Probe(TrainerCallback):
    """Records the inputs of o_proj/down_proj during training, a snapshot at step `k`, and the masked model's
    logits when training ends (before HyWIACallback cuts the model: it sits before it in the list)."""

    def __init__(self, k: int):
        self.k, self.inputs, self.handles = k, [], []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        def record(module, inputs, output, index, name):  # a forward hook sees the inputs after the pre-hooks
            if module.training:
                self.inputs.append((state.global_step, index, name, inputs[0].detach()))

        for index, layer in enumerate(model.model.layers):
            for name in ("self_attn.o_proj", "mlp.down_proj"):
                hook = lambda m, a, o, i=index, n=name: record(m, a, o, i, n)  # noqa: E731
                self.handles.append(layer.get_submodule(name).register_forward_hook(hook))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.k:
            self.snapshot = model.model.layers[1].mlp.up_proj.weight.detach().clone()

    def on_train_end(self, args, state, control, model=None, **kwargs):
        for handle in self.handles:
            handle.remove()
        self.masked_logits = logits(model)
        self.final_weights = {name: p.detach().clone() for name, p in model.named_parameters()}


def test_prunes_at_step_k_keeps_training_and_saves_a_model_that_loads_by_name(tmp_path):
    k, probe = 3, Probe(3)
    callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE), prune_at_step=k)
    trainer = train(tmp_path, tiny_model("llama_gqa").train(), [probe, callback])
    model = trainer.model
    assert is_pruned_model(model) and trainer.state.global_step == 6
    assert all(w == {"num_attention_heads": 3, "num_key_value_heads": 1, "intermediate_size": 20}
               for w in model.config.layer_widths)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 6 and all(math.isfinite(loss) for loss in losses)
    assert callback.history[0]["step"] == k and callback.history[0]["statistics"] == "training"
    # training went on after pruning: kept weights moved between step k and the end
    kept_mlp = callback.kept[(1, "mlp")]
    assert not torch.equal(probe.snapshot[kept_mlp], model.model.layers[1].mlp.up_proj.weight)
    # removed units' outputs are exactly zero from step k on, and were not before
    for step, layer, name, hidden in probe.inputs:
        kind, per_unit = ("attention", 3 * 8) if name == "self_attn.o_proj" else ("mlp", 1)
        group = callback.kept[(layer, kind)]
        columns = removed_columns(group, 2 if kind == "attention" else 40, per_unit)
        values = hidden.index_select(-1, columns)
        assert bool((values == 0).all()) == (step >= k), (step, layer, name)
    # removed rows and columns stayed zero through the optimizer steps after pruning
    for layer, kind in callback.kept:
        if kind == "mlp":
            removed = removed_columns(callback.kept[(layer, kind)], 40, 1)
            prefix = f"model.layers.{layer}.mlp."
            for name, dim in (("gate_proj", 0), ("up_proj", 0), ("down_proj", 1)):
                assert not probe.final_weights[prefix + name + ".weight"].index_select(dim, removed).any()
    # the cut model computes what the masked model computed, and saves/loads by name
    torch.testing.assert_close(logits(model), probe.masked_logits, rtol=1e-5, atol=1e-5)
    trainer.save_model(str(tmp_path / "final"))
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "final")
    assert type(loaded).__name__ == "HyWIALlamaForCausalLM" and loaded.config.hywia["statistics"] == "training"
    torch.testing.assert_close(logits(loaded), probe.masked_logits, rtol=1e-5, atol=1e-5)


class KeptRecorder(TrainerCallback):
    def __init__(self, callback: HyWIACallback):
        self.callback, self.stages = callback, []

    def on_step_end(self, args, state, control, **kwargs):
        if self.callback.history and self.callback.history[-1]["step"] == state.global_step:
            self.stages.append({key: set(units.tolist()) for key, units in self.callback.kept.items()})


def test_iterative_schedule_reaches_the_target_through_nested_stages(tmp_path):
    config = HyWIAConfig(importance="element1", allocation="layer", **BASE)
    callback = HyWIACallback(config, prune_steps=(1, 5, 3))
    recorder = KeptRecorder(callback)
    trainer = train(tmp_path, tiny_model("llama_gqa").train(), [callback, recorder])
    assert [stage["step"] for stage in callback.history] == [1, 3, 5]
    assert [round(stage["ratio"], 4) for stage in callback.history] == [0.1667, 0.3333, 0.5]
    assert [stage["removed_units"]["mlp"] for stage in callback.history] == [4 * 7, 4 * 13, 4 * 20]
    for earlier, later in zip(recorder.stages, recorder.stages[1:]):
        assert all(later[key] <= earlier[key] for key in earlier) and later != earlier
    assert all(w["intermediate_size"] == 20 and w["num_key_value_heads"] == 1
               for w in trainer.model.config.layer_widths)


class HookCounter(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.at_begin = sum(len(module._forward_pre_hooks) for module in model.modules())


@pytest.mark.parametrize("prune_at,resume_at", [(2, 3), (4, 2)], ids=["after-pruning", "mid-statistics"])
def test_resume_from_a_checkpoint_gives_the_same_pruned_model(tmp_path, prune_at, resume_at):
    config = HyWIAConfig(importance="element1", **BASE)
    first = HyWIACallback(config, prune_at_step=prune_at)
    reference = train(tmp_path, tiny_model("llama_gqa").train(), [first], save_strategy="steps", save_steps=resume_at)
    checkpoint = tmp_path / f"checkpoint-{resume_at}"
    saved = json.loads((checkpoint / STATE_NAME).read_text())
    assert (saved["kept"] is not None) == (resume_at >= prune_at)
    assert (checkpoint / GRADIENTS_NAME).is_file() == (resume_at < prune_at)
    second, hooks = HyWIACallback(config, prune_at_step=prune_at), HookCounter()
    resumed = train(tmp_path, tiny_model("llama_gqa", seed=5).train(), [second, hooks], resume=str(checkpoint),
                    save_strategy="steps", save_steps=resume_at)
    assert resumed.state.global_step == 6
    assert (hooks.at_begin > 0) == (resume_at >= prune_at)  # the masks are back before the first resumed step
    assert {key: units.tolist() for key, units in second.kept.items()} == \
        {key: units.tolist() for key, units in first.kept.items()}
    assert resumed.model.config.layer_widths == reference.model.config.layer_widths
    torch.testing.assert_close(logits(resumed.model), logits(reference.model), rtol=1e-4, atol=1e-4)


def test_resuming_a_pruned_run_without_its_state_fails_before_training(tmp_path):
    config = HyWIAConfig(importance="element1", **BASE)
    train(tmp_path, tiny_model("llama_gqa").train(), [HyWIACallback(config, prune_at_step=2)],
          save_strategy="steps", save_steps=3)
    (tmp_path / "checkpoint-3" / STATE_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="resume_from"):
        train(tmp_path, tiny_model("llama_gqa").train(), [HyWIACallback(config, prune_at_step=2)],
              resume=str(tmp_path / "checkpoint-3"))


def test_gradient_accumulation_prunes_the_units_of_the_same_global_batch(tmp_path):
    kept = []
    for batch, accumulation in ((4, 1), (2, 2)):
        callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE), prune_at_step=2)
        train(tmp_path / str(batch), tiny_model("llama_gqa").train(), [callback], max_steps=3,
              per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation)
        kept.append({key: units.tolist() for key, units in callback.kept.items()})
    assert kept[0] == kept[1]


class GradientWatcher(TrainerCallback):
    """After HyWIACallback in the list: the first member weight's gradient sum against this step's gradient."""

    def __init__(self, callback: HyWIACallback):
        self.callback, self.steps, self.sums = callback, [], []

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.steps.append(self.callback._params[0].grad.detach().clone())
        self.sums.append(self.callback._grads[0].clone())


@pytest.mark.parametrize("window", [None, 1])
def test_training_statistics_sum_the_gradients_of_the_steps_before_the_stage(tmp_path, window):
    callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE), prune_at_step=3, statistics_window=window)
    watcher = GradientWatcher(callback)
    train(tmp_path, tiny_model("llama_gqa").train(), [callback, watcher], max_steps=3)
    expected = watcher.steps[-1] if window == 1 else sum(watcher.steps)
    torch.testing.assert_close(watcher.sums[-1], expected)
    assert window is None or not watcher.sums[0].any()  # step 1 is outside a window of 1 before step 3


def test_two_processes_prune_the_same_units_as_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    with socket.socket() as probe:  # a free port: other jobs on this machine may hold accelerate's default
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # on CPU, `--cpu --num_processes 2` starts one process (without MPI); `--multi_gpu` starts two gloo processes
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(port),
               str(Path(__file__).parent / "callback_ddp_run.py"), str(tmp_path / "ddp"), "--per-device-batch", "2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, scenario in SCENARIOS.items():
        ranks = [json.loads((tmp_path / "ddp" / name / f"rank{r}.json").read_text()) for r in (0, 1)]
        single = run(str(tmp_path / "one" / name), per_device_batch=4, save_model=False, **scenario)
        assert [r["world_size"] for r in ranks] == [2, 2] and single["world_size"] == 1
        assert ranks[0]["kept_units"] == ranks[1]["kept_units"] == single["kept_units"], name
        assert ranks[0]["layer_widths"] == single["layer_widths"]
        assert any(w["intermediate_size"] < 40 for w in single["layer_widths"])
        loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ddp" / name / "final")
        assert loaded.config.layer_widths == single["layer_widths"]


def test_prune_and_recover_returns_a_merged_plain_pruned_model(tmp_path):
    from optimum_hywia.data import builtin_text

    tokenizer, calibration = tiny_tokenizer(), torch.randint(0, VOCAB, (4, 16), generator=torch.Generator().manual_seed(1))
    config = HyWIAConfig(importance="element1", **BASE)
    seen_before_recovery = []
    model = prune_and_recover(tiny_model("llama_gqa"), tokenizer, config, text=builtin_text("austen")[:4000],
                              seq_len=16, max_steps=2, calibration_data=calibration,
                              save_directory=str(tmp_path / "recovered"), training_args={"use_cpu": True},
                              on_pruned=lambda pruned: seen_before_recovery.append(logits(pruned)))
    assert is_pruned_model(model) and not any("lora" in name for name, _ in model.named_modules())
    assert model.config.hywia["recovery"]["method"] == "lora" and model.config.hywia["recovery"]["r"] == 8
    from optimum_hywia import HyWIAPruner

    pruned_only = HyWIAPruner(config).prune(tiny_model("llama_gqa"), calibration)
    assert model.config.layer_widths == pruned_only.config.layer_widths
    assert not torch.allclose(logits(model), logits(pruned_only))  # the merged adapters changed the weights
    assert len(seen_before_recovery) == 1  # on_pruned saw the pruned model, before recovery
    torch.testing.assert_close(seen_before_recovery[0], logits(pruned_only), rtol=1e-5, atol=1e-5)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "recovered")
    assert type(loaded) is type(model)
    torch.testing.assert_close(logits(loaded), logits(model), rtol=1e-5, atol=1e-5)


def test_callback_on_a_peft_model_masks_base_layers_and_finalize_merges_then_cuts(tmp_path):
    from peft import get_peft_model

    calibration = torch.randint(0, VOCAB, (4, 16), generator=torch.Generator().manual_seed(1))
    peft_model = get_peft_model(tiny_model("llama_gqa").train(), lora_config())
    # pruned after 2 steps: the adapters already carry removed units' rows, which only the masks on the lora
    # layers keep out of the output
    callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE), prune_at_step=2, calibration_data=calibration)
    trainer = train(tmp_path, peft_model, [callback], max_steps=4, learning_rate=1e-2)
    assert callback.statistics == "calibration" and callback.history[0]["step"] == 2
    masked = logits(trainer.model)
    model = callback.finalize(trainer.model)
    assert is_pruned_model(model) and not any("lora" in name for name, _ in model.named_modules())
    assert all(w["intermediate_size"] == 20 for w in model.config.layer_widths)
    torch.testing.assert_close(logits(model), masked, rtol=1e-5, atol=1e-5)
    save_pruned_model(model, tmp_path / "merged")
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "merged").config.layer_widths == model.config.layer_widths


def test_a_later_stage_never_restores_a_removed_unit():
    model = tiny_model("llama_gqa")
    group = [g for g in HyWIAPruner(HyWIAConfig(importance="element1", **BASE)).unit_groups(model) if g.kind == "mlp"][0]
    previous = torch.arange(10, 40)  # units 0..9 removed by an earlier stage
    scores = torch.arange(40, 0, -1).double()  # now units 0..9 score highest
    # the allocation alone would bring them back (keep units 0..34, remove 5)
    nested = nested_kept_units(group, scores, num_remove=group.num_units - 35, previous=previous)
    assert set(nested.tolist()) <= set(range(10, 40)) and len(nested) == 30


def gpt2_tiny():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=32))


def _deepspeed(trainer):
    trainer.args.deepspeed = {"zero_optimization": {"stage": 3}}


def _fsdp(trainer):
    trainer.args.fsdp = "full_shard"


def _best_model(trainer):
    trainer.args.load_best_model_at_end = True


@pytest.mark.parametrize("case,make_model,schedule,change,error", [
    ("unsupported model", gpt2_tiny, dict(prune_at_step=2), None, "Unsupported architecture `GPT2LMHeadModel`"),
    ("schedule after max_steps", None, dict(prune_at_step=9), None, r"ends at step 9.*max_steps=6"),
    ("stages after max_steps", None, dict(prune_steps=(2, 8, 3)), None, r"ends at step 8"),
    ("step 0 without calibration", None, dict(prune_at_step=0), None, "needs calibration windows before any"),
    ("deepspeed", None, dict(prune_at_step=2), _deepspeed, "does not support DeepSpeed.*hywia prune ... --fsdp"),
    ("fsdp", None, dict(prune_at_step=2), _fsdp, "does not support FSDP.*hywia prune ... --fsdp"),
    ("best model at end", None, dict(prune_at_step=2), _best_model, "load_best_model_at_end"),
])
def test_bad_settings_fail_in_on_train_begin_before_any_step(tmp_path, case, make_model, schedule, change, error):
    model = (make_model or (lambda: tiny_model("llama_gqa")))().train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE), **schedule)
    trainer = Trainer(model, arguments(tmp_path), train_dataset=dataset(), callbacks=[callback])
    if change is not None:
        change(trainer)
    with pytest.raises(ValueError, match=error):
        trainer.train()
    assert trainer.state.global_step == 0
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


@pytest.mark.parametrize("kwargs,error", [
    (dict(prune_at_step=2, prune_steps=(1, 3, 2)), "at most one of `prune_at_step`"),
    (dict(prune_steps=(4, 2, 2)), r"`prune_steps`=\(4, 2, 2\)"),
    (dict(prune_steps=(0, 1, 3)), "end - start >= n_stages - 1"),
    (dict(prune_at_step=-1), "`prune_at_step` must be an integer >= 0, got -1"),
    (dict(prune_at_step=2, statistics="training", importance="wanda_sp"), "importance must be one of"),
    (dict(prune_at_step=2, statistics="fisher"), "`statistics` must be one of"),
    (dict(prune_at_step=0, statistics="training"), "cannot prune at step 0"),
    (dict(prune_at_step=2, ratio_schedule="exp"), "`ratio_schedule` must be one of"),
])
def test_bad_arguments_are_refused_with_the_value_and_the_choices(kwargs, error):
    importance = kwargs.pop("importance", "element1")
    with pytest.raises(ValueError, match=error):
        HyWIACallback(HyWIAConfig(importance=importance, **BASE), **kwargs)


def test_training_statistics_on_frozen_weights_are_refused(tmp_path):
    from peft import get_peft_model

    peft_model = get_peft_model(tiny_model("llama_gqa").train(), lora_config())
    callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE), prune_at_step=2, statistics="training")
    with pytest.raises(ValueError, match="statistics='calibration'"):
        train(tmp_path, peft_model, [callback])


def test_default_schedule_is_one_shot_at_the_ceiling_of_a_tenth_of_max_steps():
    from optimum_hywia.training.schedule import PruningSchedule

    steps = {n: PruningSchedule.default(0.3, n).steps for n in (1, 9, 10, 11, 30, 70, 1000)}
    assert steps == {1: (1,), 9: (1,), 10: (1,), 11: (2,), 30: (3,), 70: (7,), 1000: (100,)}
    assert PruningSchedule.default(0.3, 30).ratios == (0.3,)


@pytest.mark.parametrize("max_steps,step", [(6, 1), (20, 2), (25, 3)])
def test_without_a_schedule_the_callback_prunes_once_after_a_tenth_of_max_steps(tmp_path, max_steps, step):
    callback = HyWIACallback(HyWIAConfig(importance="element1", **BASE))
    trainer = train(tmp_path, tiny_model("llama_gqa").train(), [callback], max_steps=max_steps)
    assert [(record["step"], record["ratio"]) for record in callback.history] == [(step, 0.5)]
    assert callback.statistics == "training" and is_pruned_model(trainer.model)
    assert callback.schedule.steps == (step,) and trainer.state.global_step == max_steps
