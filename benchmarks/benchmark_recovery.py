"""Pruned, then recovered with LoRA: zero-shot accuracy on every item of one split, perplexity, paired margins.

For each model, calibration seed and pruning ratio: dense; LLM-Pruner (`element1` under the `llm_pruner`
allocation); FLAP (`flap` under its own `params_global` allocation); `hywia` (defaults); `element1_cost_aware`
(element-wise Taylor under `cost_aware`, HyWIA's cheapest view). Each pruned model gets the same LoRA recovery
(LLM-Pruner's recipe, through `training.recovery.prune_and_recover`): a fixed budget of steps x windows x tokens
of `builtin:mixed` (Emma, Persuasion, the Jargon File's calibration slice), disjoint from every evaluation text.
Scores after recovery, on `--split` (`test` for the final tables, `validation` for anything that chooses): every item
of the six offline tasks (accuracy per task, per-item correctness kept in the row), perplexity on the split's
in-domain and out-of-domain texts (`optimum_hywia.evaluation.splits.PPL_SOURCES`), also right after pruning.
Margins between methods (same model, ratio, seeds and items) come with a 95% interval from a paired bootstrap over
items and seeds (`optimum_hywia.evaluation.paired`).

Rows are appended to `<name>_rows.jsonl` as they finish and the tables and plot are rewritten after each one; a rerun
skips the rows already there (resumable); seeds are the outer loop, so each seed's methods finish together. Each row
records the command that made it and its protocol (split, recovery budget, items per task, perplexity windows);
resuming with another protocol is refused, so one table never mixes two.

    python -m benchmarks.benchmark_recovery --models builtin:smollm2-135m builtin:gemma3-270m \\
        --recover-steps 100 --output-dir docs/results                      # the grid on the test split (resumable)
    python -m benchmarks.benchmark_recovery --ratios 0.5 --seeds 0 --methods llm_pruner hywia --recover-steps 2 \\
        --limit 4 --ppl-windows 4 --output-dir /tmp/recovery-smoke         # a smoke run
    python -m benchmarks.benchmark_recovery --report-only --output-dir docs/results   # tables from the rows file
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import SMOLLM2, command_line, current_rss_bytes, machine_info, measured, write_results  # noqa: E402
from optimum_hywia import HyWIAConfig, HyWIAPruner  # noqa: E402
from optimum_hywia.training.distillation import DEFAULT_TOP_K, DistillationConfig  # noqa: E402
from optimum_hywia.data import load_model_and_tokenizer  # noqa: E402
from optimum_hywia.evaluation import OFFLINE_CHANCE, OFFLINE_TASKS, load_ppl_text, zero_shot  # noqa: E402
from optimum_hywia.evaluation.report import perplexity_row  # noqa: E402
from optimum_hywia.evaluation.splits import SPLITS, TEST, check_split, ppl_sources  # noqa: E402
from optimum_hywia.training.recovery import (  # noqa: E402
    DEFAULT_RECOVERY_DATA,
    LLM_PRUNER_LEARNING_RATE,
    LLM_PRUNER_LORA,
    prune_and_recover,
    text_dataset,
)
from benchmarks.recovery_report import margins, markdown, plot, recovery_comparison, summary  # noqa: E402

# method -> HyWIAConfig overrides
METHODS = {
    "llm_pruner": {"importance": "element1", "allocation": "llm_pruner"},
    "flap": {"importance": "flap", "allocation": "params_global"},
    "hywia": {},
    "element1_cost_aware": {"importance": "element1", "allocation": "cost_aware"},
}
DEFAULT_METHODS = ("llm_pruner", "hywia", "flap")
# recovery -> (LoRA adapters or every weight, teacher logits of the distillation: None (LM loss), "on_the_fly" (the
# dense model beside the student) or "precomputed" (its top-k logits computed once to disk, no teacher in memory));
# "none": scored right after pruning
RECOVERIES = {"lora": (True, None), "full": (False, None), "distill_lora": (True, "on_the_fly"),
              "distill_full": (False, "on_the_fly"), "distill_lora_topk": (True, "precomputed"),
              "distill_full_topk": (False, "precomputed"), "none": (False, None)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[SMOLLM2], help="e.g. builtin:smollm2-135m builtin:gemma3-270m")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="calibration seeds")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=list(METHODS))
    parser.add_argument("--split", default=TEST, choices=SPLITS,
                        help="items and perplexity texts scored: test (final tables) or validation (choices)")
    parser.add_argument("--recoveries", nargs="+", default=["lora"], choices=list(RECOVERIES),
                        help="recovery of each pruned model: LoRA or every weight on the LM loss, distillation from "
                             "the dense model (LoRA or every weight), or none")
    parser.add_argument("--recover-temperature", type=float, default=2.0, help="distillation temperature")
    parser.add_argument("--recover-steps", type=int, default=100)
    parser.add_argument("--recover-batch-size", type=int, default=4)
    parser.add_argument("--recover-seq-len", type=int, default=128)
    parser.add_argument("--recover-lr", type=float, default=LLM_PRUNER_LEARNING_RATE)
    parser.add_argument("--recover-data", default=DEFAULT_RECOVERY_DATA)
    parser.add_argument("--limit", type=int, default=None, help="items per zero-shot task (default: all of the split)")
    parser.add_argument("--ppl-windows", type=int, default=100, help="128-token windows per perplexity text")
    parser.add_argument("--batch-size", type=int, default=8, help="evaluation batch size")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="recovery", help="file stem")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the tables and plot from the rows file without running anything")
    return parser.parse_args()


def perplexities(model, tokenizer, texts: dict[str, str], args) -> dict:
    """Perplexity on the split's in-domain (`ppl_in`) and out-of-domain (`ppl_out`) texts."""
    return {key: perplexity_row(model, tokenizer, source, text, max_windows=args.ppl_windows,
                                batch_size=args.batch_size)["value"] for key, (source, text) in texts.items()}


def evaluate(model, tokenizer, texts: dict[str, str], args) -> dict:
    """Accuracy per task with every item's correctness (a string of 0/1), their mean, and both perplexities."""
    results = zero_shot(model, tokenizer, list(OFFLINE_TASKS), limit=args.limit, split=args.split,
                        batch_size=args.batch_size, log_samples=True, bootstrap_iters=0)
    tasks = {name: {"metric": r["metric"], "value": r["value"], "n": r["n_samples"], "precision": r["precision"],
                    "correct": "".join(str(int(s["correct"])) for s in r["samples"])} for name, r in results.items()}
    mean = sum(t["value"] for t in tasks.values()) / len(tasks)
    return {"mean_acc": mean, "tasks": tasks, **perplexities(model, tokenizer, texts, args)}


def protocol(args) -> dict:
    """What must be equal for two rows to share a table: the recovery budget and the evaluation sizes."""
    return {"split": args.split, "recovery_budget": budget(args), "limit": args.limit, "ppl_windows": args.ppl_windows}


def check_protocol(rows: list[dict], args) -> None:
    wanted = protocol(args)
    for row in rows:
        if row["protocol"] != wanted:
            raise SystemExit(f"{args.output_dir / args.name}_rows.jsonl holds rows made with {row['protocol']}, not "
                             f"{wanted}: rerun with the same --split / --recover-* / --limit / --ppl-windows, or choose a "
                             "new --name")


def commands(rows: list[dict]) -> list[str]:
    """The distinct commands that made `rows`, in the order they first appear."""
    return list(dict.fromkeys(r["command"] for r in rows))


def new_row(model_name: str, ratio: float, method: str, seed: int, args, recovery: str = "lora") -> dict:
    return {"model": model_name, "ratio": ratio, "method": method, "seed": seed, "recovery": recovery,
            "command": command_line(), "protocol": protocol(args), "wall_s": {}, "peak_rss_mb": {}}


def run_pruned(dense, tokenizer, train_rows, texts, model_name, ratio, seed, method, recovery, args) -> dict:
    """Prune a copy of `dense`, measure its perplexity, recover it, score it; wall time and peak RSS of each phase."""
    config = HyWIAConfig(**{**METHODS[method], "pruning_ratio": ratio, "seed": seed})
    row = {**new_row(model_name, ratio, method, seed, args, recovery), "config": config.to_dict()}
    lora, teacher_logits = RECOVERIES[recovery]
    with measured() as memory:
        clock = {"start": time.perf_counter()}

        def score_before(pruned) -> None:
            row["wall_s"]["prune"] = time.perf_counter() - clock["start"]
            row["peak_rss_mb"]["prune"] = memory.peak_rss_bytes / 2**20
            start = time.perf_counter()
            row["params"] = sum(p.numel() for p in pruned.parameters())
            row["before"] = perplexities(pruned, tokenizer, texts, args)
            row["wall_s"]["eval_before"] = time.perf_counter() - start
            memory.peak_rss_bytes = current_rss_bytes()  # from here on: recovery's peak
            clock["recover"] = time.perf_counter()

        if recovery == "none":
            model = HyWIAPruner(config).prune(copy.deepcopy(dense), tokenizer=tokenizer)
            score_before(model)
        else:
            distillation = (None if teacher_logits is None else
                            DistillationConfig(temperature=args.recover_temperature, teacher_logits=teacher_logits))
            row["distillation"] = None if distillation is None else distillation.to_dict()
            model = prune_and_recover(copy.deepcopy(dense), tokenizer, config, train_rows, max_steps=args.recover_steps,
                                      learning_rate=args.recover_lr, batch_size=args.recover_batch_size, lora=lora,
                                      training_args={"seed": seed, "disable_tqdm": False}, on_pruned=score_before,
                                      distillation=distillation)
        row["wall_s"]["recover"] = time.perf_counter() - clock["recover"]
        row["peak_rss_mb"]["recover"] = memory.peak_rss_bytes / 2**20
    start = time.perf_counter()
    row["after"] = evaluate(model, tokenizer, texts, args)
    row["wall_s"]["eval_after"] = time.perf_counter() - start
    return row


def run_dense(dense, tokenizer, texts, model_name, args) -> dict:
    start = time.perf_counter()
    row = new_row(model_name, 0.0, "dense", 0, args)
    row.update(params=sum(p.numel() for p in dense.parameters()), before=None,
               after=evaluate(dense, tokenizer, texts, args))
    row["wall_s"]["eval_before"] = time.perf_counter() - start
    return row


def budget(args) -> dict:
    tokens = args.recover_steps * args.recover_batch_size * args.recover_seq_len
    return {"data": args.recover_data, "steps": args.recover_steps, "batch_size": args.recover_batch_size,
            "seq_len": args.recover_seq_len, "tokens": tokens, "learning_rate": args.recover_lr, **LLM_PRUNER_LORA}


def header(args, rows: list[dict]) -> str:
    b = budget(args)
    shown = {r["method"] for r in rows}
    methods = ", ".join(f"{m} = {METHODS[m] or 'HyWIAConfig defaults'}" for m in METHODS if m in shown)
    models = list(dict.fromkeys(r["model"] for r in rows))
    recoveries = sorted({r.get("recovery", "lora") for r in rows if r["method"] != "dense"})
    return "\n".join([
        f"# Pruned, then recovered ({', '.join(recoveries)}; {', '.join(models)})", "",
        f"Made by {' then '.join(f'`{c}`' for c in commands(rows))} from the repository root (resumable; "
        f"{len(rows)} rows in {args.name}_rows.jsonl, each naming its command).  ",
        f"Recovery: LoRA r={b['r']}, alpha={b['lora_alpha']}, dropout {b['lora_dropout']} on every linear projection, "
        f"lr {b['learning_rate']}, {b['steps']} steps x {b['batch_size']} windows x {b['seq_len']} tokens = "
        f"{b['tokens']:,} tokens of `{b['data']}` (the calibration texts, disjoint from every evaluation text), "
        "adapters merged (rows labelled `+ full`: every weight trained instead, at the same budget).  ",
        *distillation_lines(rows),
        f"Split: **{args.split}**. Zero-shot: {', '.join(OFFLINE_TASKS)} (chance "
        f"{', '.join(f'{100 * c:.0f}%' for c in OFFLINE_CHANCE.values())}), "
        f"{'every item' if args.limit is None else f'first {args.limit} items'} of the split each; perplexity: first "
        f"{args.ppl_windows} windows of 128 tokens of {', '.join(ppl_sources(args.split).values())}.  ",
        f"Methods: {methods}.  ",
        f"Machine: {machine_info()}",
    ])


def distillation_lines(rows: list[dict]) -> list[str]:
    """How the distilled rows (`+ distill_lora`, `+ distill_full`) learned, when there are any."""
    distilled = [r for r in rows if r.get("recovery", "").startswith("distill")]
    if not distilled:
        return []
    temperatures = sorted({(r.get("distillation") or {}).get("temperature", 2.0) for r in distilled})
    return [f"Distillation (`+ distill_lora`: LoRA adapters as above, `+ distill_full`: every weight): loss KL(dense "
            f"teacher ‖ pruned student) at temperature {', '.join(f'{t:g}' for t in temperatures)}, teacher = the "
            "dense model before pruning, frozen: on the whole vocabulary's logits computed beside the student, or "
            f"(`_topk`) on its top-{DEFAULT_TOP_K} logits per token computed once to disk, no teacher in memory "
            "during training; same data, steps, windows and learning rate as LoRA.  ",
            "`+ none`: scored right after pruning, no recovery.  "]


def write_all(rows: list[dict], args) -> None:
    paired = margins(rows)
    payload = {"commands": commands(rows), "machine": machine_info(),
               **protocol(args), "summary": summary(rows), "margins": paired,
               "recoveries": recovery_comparison(rows), "rows": rows}
    write_results(args.output_dir, args.name, payload, markdown(rows, header(args, rows), paired))
    plot(rows, args.output_dir / f"{args.name}.png")


def main() -> None:
    args = parse_args()
    check_split(args.split, purpose="final table")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    log = args.output_dir / f"{args.name}_rows.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    check_protocol(rows, args)
    done = {(r["model"], r["ratio"], r["method"], r["seed"], r.get("recovery", "lora")) for r in rows}
    if args.report_only:
        if not rows:
            raise SystemExit(f"--report-only: {log} holds no rows")
        write_all(rows, args)
        return
    sources = ppl_sources(args.split)
    texts = {"ppl_in": (sources["in_domain"], load_ppl_text(sources["in_domain"])),
             "ppl_out": (sources["out_of_domain"], load_ppl_text(sources["out_of_domain"]))}
    for model_name in args.models:
        dense, tokenizer = load_model_and_tokenizer(model_name)
        dense.to("cuda" if torch.cuda.is_available() else "cpu")
        train_rows = text_dataset(tokenizer, source=args.recover_data, seq_len=args.recover_seq_len)
        jobs = [(0.0, 0, "dense", "lora")] + [(r, s, m, c) for s in args.seeds for r in args.ratios
                                              for m in args.methods for c in args.recoveries]
        for ratio, seed, method, recovery in jobs:
            if (model_name, ratio, method, seed, recovery) in done:
                continue
            print(f"== {model_name} ratio {ratio} seed {seed} {method} recovery {recovery}", flush=True)
            row = (run_dense(dense, tokenizer, texts, model_name, args) if method == "dense" else
                   run_pruned(dense, tokenizer, train_rows, texts, model_name, ratio, seed, method, recovery, args))
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            rows.append(row)
            print(f"   wall s: {json.dumps({k: round(v, 1) for k, v in row['wall_s'].items()})}", flush=True)
            write_all(rows, args)


if __name__ == "__main__":
    main()
