"""Speed of what users get: HyWIA's default plans, in transformers and in llama.cpp, measured against ideal.

For each model and ratio, HyWIA scores the model once at its defaults; the plan is then cut at every `--targets`
granularity (`none`: the default widths; `transformers`, `gpu`, `llama.cpp`, `llama.cpp-kquant`: the MLP widths
`HyWIAConfig.target` rounds to) and each pruned model is saved under `--work-dir`, so a rerun reuses it. Each pruned
model is then timed against the dense one, interleaved (dense, pruned, dense, ...) after a warm-up each:

- transformers (`--dtypes`, `--threads`): prefill of batch 1 x 256 and batch 8 x 128 tokens (the last token's logits,
  as `generate` runs it) and `--decode-tokens` greedy steps with the KV cache after a 16-token prompt;
- llama.cpp (`--gguf-dtypes`: f16, q8_0, q4_k_m, ...): the model exported by `to_gguf`, prefill of 256 tokens and
  the same decode steps, the same threads; for k-quants, the count of tensors stored in a fallback type, beside the
  dense model's.

Each cell: the median of `--repeats` runs with the interquartile range, measured speedup (dense / pruned time),
ideal speedup (dense / pruned FLOPs, `optimum_hywia.evaluation.forward_flops`) and efficiency = measured / ideal.
The quality cost of each granularity: perplexity on the validation texts against the unrounded widths (`none`).
Rows go to `<name>_rows.jsonl` as they finish; a rerun skips the cells already there.

    python -m benchmarks.benchmark_defaults_speed --output-dir docs/results        # the full table (hours on a CPU)
    python -m benchmarks.benchmark_defaults_speed --models random:llama-50m --ratios 0.5 --targets none llama.cpp \
        --dtypes float32 --threads 1 --gguf-dtypes f16 --repeats 1 --output-dir /tmp/speed   # a quick check
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from benchmarks.benchmark_gguf import timed_runs
from benchmarks.benchmark_speed import decode_seconds, prefill_seconds
from benchmarks.common import command_line, load_benchmark_model, machine_info, write_results
from optimum_hywia import HyWIAConfig, HyWIAPruner, count_parameters
from optimum_hywia.data import load_text
from optimum_hywia.evaluation import forward_flops, perplexity
from optimum_hywia.evaluation.splits import VALIDATION, ppl_sources
from optimum_hywia.export import to_gguf
from optimum_hywia.export.quantize import K_QUANTS, fallback_tensors
from optimum_hywia.importance import get_importance

PREFILL_SHAPES = {"prefill 1x256": (1, 256), "prefill 8x128": (8, 128)}  # cell -> (batch, tokens)
PROMPT_TOKENS = 16
NONE = "none"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["builtin:smollm2-135m", "builtin:gemma3-270m"])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--targets", nargs="+", default=[NONE, "transformers", "llama.cpp", "llama.cpp-kquant"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--gguf-dtypes", nargs="+", default=["f16", "q8_0", "q4_k_m"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--eval-windows", type=int, default=24, help="128-token windows per validation text")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "optimum_hywia" / "speed_defaults")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="speed_defaults")
    return parser.parse_args()


def folder_of(args, model: str, ratio: float, target: str) -> Path:
    return args.work_dir / f"{model.replace(':', '_')}-{ratio:g}-{target}-seed{args.seed}"


def pruned_folders(name: str, ratio: float, args) -> dict[str, Path]:
    """Each target's pruned model on disk, from one HyWIA scoring pass at the defaults (reused when all exist)."""
    folders = {target: folder_of(args, name, ratio, target) for target in args.targets}
    missing = [target for target, folder in folders.items() if not (folder / "config.json").exists()]
    if missing:
        dense, tokenizer = load_benchmark_model(name, seed=args.seed)
        config = HyWIAConfig(pruning_ratio=ratio, seed=args.seed)
        pruner = HyWIAPruner(config)
        context = pruner.scoring_context(dense, None, tokenizer)
        result = get_importance(config.importance).run(context)
        for target in missing:
            pruner.config = HyWIAConfig(pruning_ratio=ratio, seed=args.seed, target=None if target == NONE else target)
            model = pruner.apply(copy.deepcopy(dense), context.sharing_statistics(pruner.config), result)
            pruner.save_pretrained(model, folders[target], tokenizer=tokenizer)
            del model
    return folders


def quartiles(values: list[float]) -> dict:
    low, median, high = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return {"median": statistics.median(values), "q1": low, "q3": high}


def ideal(dense, pruned, batch: int, tokens: int, decode_tokens: int) -> dict:
    def prefill(model) -> int:
        return forward_flops(model, tokens, batch_size=batch, logits_to_keep=1).total

    def decode(model) -> int:
        return sum(forward_flops(model, 1, past_tokens=PROMPT_TOKENS + step).total for step in range(decode_tokens))

    return {"prefill": prefill(dense) / prefill(pruned), "decode": decode(dense) / decode(pruned)}


def transformers_cell(dense, pruned, dtype: str, threads: int, args) -> dict:
    """Prefill at each of `PREFILL_SHAPES` and greedy decode, dense and pruned interleaved, in `dtype` (copies, so
    the float32 models stay exact for the other cells)."""
    torch.set_num_threads(threads)
    models = {"dense": copy.deepcopy(dense).to(getattr(torch, dtype)),
              "pruned": copy.deepcopy(pruned).to(getattr(torch, dtype))}
    generator = torch.Generator().manual_seed(args.seed)
    vocab = dense.config.vocab_size
    inputs = {cell: torch.randint(0, vocab, shape, generator=generator) for cell, shape in PREFILL_SHAPES.items()}
    prompt = torch.randint(0, vocab, (1, PROMPT_TOKENS), generator=generator)
    kinds = [*PREFILL_SHAPES, "decode"]
    times = {(name, kind): [] for name in models for kind in kinds}
    for repeat in range(args.repeats + 1):  # run 0 warms up
        for name, model in models.items():
            for cell, ids in inputs.items():
                seconds = prefill_seconds(model, ids)
                if repeat:
                    times[name, cell].append(seconds)
            seconds = decode_seconds(model, prompt, args.decode_tokens)
            if repeat:
                times[name, "decode"].append(seconds)
    cell = {}
    for kind in kinds:
        flops = ideal(dense, pruned, *PREFILL_SHAPES.get(kind, (1, PROMPT_TOKENS)), args.decode_tokens)
        measured = statistics.median(times["dense", kind]) / statistics.median(times["pruned", kind])
        ideal_speedup = flops["decode" if kind == "decode" else "prefill"]
        cell[kind] = {"dense_s": quartiles(times["dense", kind]), "pruned_s": quartiles(times["pruned", kind]),
                      "measured": measured, "ideal": ideal_speedup, "efficiency": measured / ideal_speedup}
    return cell


def llama_cpp_cell(dense_path: Path, pruned_path: Path, dense, pruned, threads: int, ids: list[int], args) -> dict:
    batch, tokens = PREFILL_SHAPES["prefill 1x256"]
    settings = argparse.Namespace(prompt_tokens=tokens, decode_tokens=args.decode_tokens, runs=args.repeats,
                                  threads=threads)
    (dense_prefill, dense_decode), (pruned_prefill, pruned_decode) = (
        timed_runs(path, ids, settings) for path in (dense_path, pruned_path))
    flops = ideal(dense, pruned, batch, tokens, args.decode_tokens)
    cell = {}
    for kind, dense_rate, pruned_rate in (("prefill", dense_prefill, pruned_prefill),
                                          ("decode", dense_decode, pruned_decode)):
        measured = pruned_rate / dense_rate
        cell[kind] = {"dense_tok_s": dense_rate, "pruned_tok_s": pruned_rate, "measured": measured,
                      "ideal": flops[kind], "efficiency": measured / flops[kind]}
    return cell


def quality(model, tokenizer, args) -> dict:
    return {role: perplexity(model, tokenizer, source, max_windows=args.eval_windows, show_progress=False)
            for role, source in ppl_sources(VALIDATION).items()}


def measure_model(name: str, args, done: set, rows_path: Path) -> None:
    dense, tokenizer = load_benchmark_model(name, seed=args.seed)
    dense = dense.float().eval()
    ids = tokenizer(load_text("builtin:prideprejudice")[:6000]).input_ids
    with tempfile.TemporaryDirectory() as scratch:
        dense_gguf = {dtype: _export(dense, tokenizer, Path(scratch) / f"dense-{dtype}.gguf", dtype)
                      for dtype in args.gguf_dtypes}
        for ratio in args.ratios:
            for target, folder in pruned_folders(name, ratio, args).items():
                pruned = AutoModelForCausalLM.from_pretrained(folder).float().eval()
                base = {"model": name, "ratio": ratio, "target": target, "params_kept":
                        count_parameters(pruned) / count_parameters(dense)}
                cells = [("quality", None, None)] + [("transformers", d, t) for d in args.dtypes for t in args.threads]
                cells += [("llama.cpp", d, t) for d in args.gguf_dtypes for t in args.threads]
                for engine, dtype, threads in cells:
                    key = (name, ratio, target, engine, dtype, threads)
                    if key in done:
                        continue
                    row = {**base, "engine": engine, "dtype": dtype, "threads": threads}
                    if engine == "quality":
                        row["perplexity"] = quality(pruned, tokenizer, args)
                    elif engine == "transformers":
                        row["cells"] = transformers_cell(dense, pruned, dtype, threads, args)
                    else:
                        path = _export(pruned, tokenizer, Path(scratch) / f"{target}-{ratio}-{dtype}.gguf", dtype)
                        row["cells"] = llama_cpp_cell(dense_gguf[dtype], path, dense, pruned, threads, ids, args)
                        if dtype in K_QUANTS:
                            row["fallback_tensors"] = {"dense": len(fallback_tensors(dense_gguf[dtype])),
                                                       "pruned": len(fallback_tensors(path))}
                    with rows_path.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    done.add(key)
                    print({k: v for k, v in row.items() if k != "cells"}, flush=True)
                del pruned


def _export(model, tokenizer, path: Path, dtype: str) -> Path:
    if path.exists():
        return path
    return to_gguf(model, tokenizer, path, dtype=dtype, progress=False)


def markdown(rows: list[dict], command: str) -> str:
    quality_of = {(r["model"], r["ratio"], r["target"]): r["perplexity"] for r in rows if r["engine"] == "quality"}
    lines = [f"HyWIA's default plans: measured speedup ÷ ideal (FLOPs) per cell, median of interleaved runs. "
             f"Command: `{command}`", "",
             "| model | ratio | target | params kept | engine | dtype | threads | cell | measured | ideal | efficiency "
             "| perplexity vs `none` (validation, in / out) | fallback-typed tensors (dense / pruned) |",
             "|---" * 13 + "|"]
    for r in rows:
        if r["engine"] == "quality":
            continue
        key = (r["model"], r["ratio"], r["target"])
        reference, own = quality_of.get((r["model"], r["ratio"], NONE)), quality_of.get(key)
        cost = (" / ".join(f"{100 * (own[k] / reference[k] - 1):+.2f}%" for k in own) if own and reference else "")
        fallback = r.get("fallback_tensors")
        fallback = f"{fallback['dense']} / {fallback['pruned']}" if fallback else ""
        for cell, values in r["cells"].items():
            lines.append(f"| {r['model']} | {r['ratio']} | {r['target']} | {100 * r['params_kept']:.1f}% | "
                         f"{r['engine']} | {r['dtype']} | {r['threads']} | {cell} | {values['measured']:.2f}x | "
                         f"{values['ideal']:.2f}x | {values['efficiency']:.2f} | {cost} | {fallback} |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    rows_path = args.output_dir / f"{args.name}_rows.jsonl"
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    done = {(r["model"], r["ratio"], r["target"], r["engine"], r["dtype"], r["threads"]) for r in rows}
    for name in args.models:
        measure_model(name, args, done, rows_path)
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    table = markdown(rows, command_line())
    write_results(args.output_dir, args.name, {"command": command_line(), "machine": machine_info(),
                                               "seed": args.seed, "rows": rows}, table)
    print(table)


if __name__ == "__main__":
    main()
