"""Prune SmolLM2-135M inside a `Trainer` run with `HyWIACallback`, then keep training to recover.

For each ratio: perplexity (Pride and Prejudice, non-overlapping 128-token windows) of the dense model, of the model
at the pruning step just before and just after pruning, and after recovery. Training text: Emma + Persuasion.
`--recovery full` (default) trains every weight and takes the importance statistics from the training gradients;
`--recovery lora` trains LLM-Pruner's LoRA adapters (statistics from the first training windows) and merges them;
`--recovery distill` trains every weight like `full`, and from the pruning step on on KL(dense teacher || pruned
student) at `--temperature` (`HyWIATrainer(teacher_model=...)`; the teacher is a frozen copy of the dense model).

    python examples/prune_with_trainer.py                   # ratios 0.2 and 0.5 -> docs/results/trainer_recovery.*
    python examples/prune_with_trainer.py --quick           # a few steps and windows: checks that the flow runs
    python examples/prune_with_trainer.py --quick --recovery distill   # the same, distilling from the dense model
    accelerate launch --multi_gpu --num_processes 2 examples/prune_with_trainer.py --quick   # two processes (gloo)
    torchrun --nproc_per_node 2 examples/prune_with_trainer.py --quick                       # the same, torchrun
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from accelerate import PartialState
from transformers import TrainerCallback, TrainingArguments

from optimum_hywia import HyWIAConfig, HyWIATrainer
from optimum_hywia.data import load_model_and_tokenizer
from optimum_hywia.evaluation import perplexity
from optimum_hywia.training.callback import HyWIACallback
from optimum_hywia.training.distillation import DistillationConfig, copy_teacher
from optimum_hywia.training.recovery import LLM_PRUNER_LORA, lora_config, text_dataset

# the results file records the command and the machine the way every benchmark does (benchmarks/common.py, in the
# repository beside this example, not in the installed package)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import command_line, machine_info, write_results  # noqa: E402

QUICK = dict(prune_at=1, max_steps=2, eval_windows=2, train_windows=32, fusion_steps=2, calibration_samples=4)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--importance", default="hywia")
    parser.add_argument("--recovery", choices=("full", "lora", "distill"), default="full")
    parser.add_argument("--temperature", type=float, default=2.0, help="distill: softmax temperature")
    parser.add_argument("--prune-at", type=int, default=8, help="optimizer steps of statistics before pruning")
    parser.add_argument("--max-steps", type=int, default=108, help="total optimizer steps (recovery = the rest)")
    parser.add_argument("--batch-size", type=int, default=4, help="windows per device and step")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--train-windows", type=int, default=None, help="cap on training windows (default: all)")
    parser.add_argument("--eval-windows", type=int, default=200)
    parser.add_argument("--fusion-steps", type=int, default=30)
    parser.add_argument("--calibration-samples", type=int, default=16, help="windows for the HyWIA fusion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="results stem (default docs/results/trainer_recovery)")
    parser.add_argument("--quick", action="store_true", help=f"tiny scale: {QUICK}")
    options = parser.parse_args()
    if options.quick:
        for name, value in QUICK.items():
            if getattr(options, name) == parser.get_default(name):
                setattr(options, name, value)
    return options


class PerplexityAtPruning(TrainerCallback):
    """Perplexity on the main process at the one-shot pruning step; placed before and after HyWIACallback."""

    def __init__(self, evaluate, step: int, label: str, results: dict):
        self.evaluate, self.step, self.label, self.results = evaluate, step, label, results

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step and state.is_world_process_zero:
            self.results[self.label] = self.evaluate(model)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.on_step_end(args, state, control, model=model)  # pruning at step 0


def run_ratio(ratio: float, options, dataset, evaluate, state: PartialState) -> dict:
    with state.main_process_first():  # the builtin model is converted once, by the main process
        model, tokenizer = load_model_and_tokenizer(options.model)
    config = HyWIAConfig(pruning_ratio=ratio, importance=options.importance, seed=options.seed,
                         fusion_steps=options.fusion_steps, num_calibration_samples=options.calibration_samples,
                         fusion_holdout_samples=min(4, options.calibration_samples - 1),  # >= 1 window trains
                         calibration_seq_len=options.seq_len)
    teacher = copy_teacher(model) if options.recovery == "distill" else None  # before any training or pruning
    if options.recovery == "lora":
        from peft import get_peft_model

        model = get_peft_model(model, lora_config())
    hywia = HyWIACallback(config, prune_at_step=options.prune_at)
    row: dict = {"ratio": ratio}
    callbacks = [PerplexityAtPruning(evaluate, options.prune_at, "dense_at_prune_ppl", row), hywia,
                 PerplexityAtPruning(evaluate, options.prune_at, "pruned_ppl", row)]
    out = Path(options.output_dir) / f"ratio{ratio}"
    args = TrainingArguments(str(out), max_steps=options.max_steps, per_device_train_batch_size=options.batch_size,
                             learning_rate=options.learning_rate, warmup_steps=0, seed=options.seed, save_strategy="no",
                             logging_steps=max(1, options.max_steps // 20), report_to=[], disable_tqdm=True,
                             use_cpu=not torch.cuda.is_available())  # on CPU, DDP (gloo) needs use_cpu=True
    trainer = HyWIATrainer(model, args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks,
                           teacher_model=teacher,
                           distillation=DistillationConfig(temperature=options.temperature) if teacher else None)
    start = time.perf_counter()
    output = trainer.train()
    pruned = hywia.finalize(trainer.model)  # peft: merge, then cut; full: already cut in on_train_end
    row["wall_s"] = round(time.perf_counter() - start, 1)
    if state.is_main_process:
        row["recovered_ppl"] = evaluate(pruned)
        summary = hywia.summary
        row.update(params_before=summary.params_before, params_after=summary.params_after,
                   kept_fraction=round(summary.kept_fraction, 4), train_loss=round(output.training_loss, 4),
                   stages=hywia.history, statistics=hywia.statistics)
    trainer.model = pruned  # (the peft route merged into a new object) every process calls save_model
    trainer.save_model(str(out / "pruned"))
    return row


def markdown(rows: list[dict], options) -> str:
    lines = [f"Perplexity on Pride and Prejudice ({options.eval_windows} windows of {options.seq_len} tokens); "
             f"{options.model}, importance `{options.importance}`, recovery `{options.recovery}`, pruned after "
             f"{options.prune_at} of {options.max_steps} steps (batch {options.batch_size} x {options.seq_len}, "
             f"lr {options.learning_rate}, seed {options.seed}, {options.world_size} process(es)).", "",
             "| ratio | params kept | dense (step 0) | dense at pruning step | right after pruning | after recovery |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['ratio']} | {100 * row['kept_fraction']:.1f}% | {row['dense_ppl']:.2f} | "
                     f"{row['dense_at_prune_ppl']:.2f} | {row['pruned_ppl']:.2f} | {row['recovered_ppl']:.2f} |")
    return "\n".join(lines + ["", f"Command: `{command_line()}`"])


def main() -> None:
    options = parse_args()
    torch.manual_seed(options.seed)
    state = PartialState(cpu=not torch.cuda.is_available())
    stem = Path(options.output or ("docs/results/trainer_recovery" + ("_quick" if options.quick else "")))
    options.output_dir = str(Path("/tmp") / f"hywia-trainer-{stem.name}")
    options.world_size = state.num_processes
    with state.main_process_first():
        model, tokenizer = load_model_and_tokenizer(options.model)
    dataset = text_dataset(tokenizer, source="builtin:austen", seq_len=options.seq_len, max_windows=options.train_windows)

    def evaluate(model) -> float:
        return round(perplexity(model, tokenizer, "builtin:prideprejudice", seq_len=options.seq_len,
                                max_windows=options.eval_windows, show_progress=False), 3)

    dense = evaluate(model) if state.is_main_process else None
    del model
    rows = []
    for ratio in options.ratios:
        row = run_ratio(ratio, options, dataset, evaluate, state)
        rows.append({**row, "dense_ppl": dense})
        if state.is_main_process:
            print(json.dumps(rows[-1], default=str))
    if state.is_main_process:
        settings = {key: value for key, value in vars(options).items() if key not in ("output_dir", "world_size")}
        payload = {"command": command_line(), "machine": machine_info(), "settings": settings,
                   "world_size": state.num_processes, "lora": LLM_PRUNER_LORA if options.recovery == "lora" else None,
                   "results": rows}
        write_results(stem.parent, stem.name, payload, markdown(rows, options))
        print(markdown(rows, options))


if __name__ == "__main__":
    main()
