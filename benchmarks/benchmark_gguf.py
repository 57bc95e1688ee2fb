"""llama.cpp speed of SmolLM2-135M exported to GGUF: dense against pruned, beside the ideal FLOP ratio.

Each model is exported with `optimum_hywia.export.to_gguf` and run through llama-cpp-python with the same thread
count: prefill of a 128-token prompt, then 64 decode steps one token at a time. The median of several runs is taken;
the machine is shared, so timings are noisy (the ratios are steadier than the absolute numbers).

Pruned models: non-uniform widths from `magnitude_l1` scores under the `cost_aware` parameter-budget allocation
(written as llama.cpp's `deci` architecture), and the `uniform` allocation at 50% with every layer pruned (written as
plain `llama`). Speed depends on the widths, not on how the units were chosen; magnitude scores need no calibration
pass, which keeps this benchmark to a few minutes.

    python -m benchmarks.benchmark_gguf                 # f16, 2 threads, 5 runs
    python -m benchmarks.benchmark_gguf --dtype q8_0 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import command_line, machine_info, write_results
from optimum_hywia import HyWIAConfig, HyWIAPruner, count_parameters
from optimum_hywia.data import load_model_and_tokenizer, load_text
from optimum_hywia.evaluation import forward_flops
from optimum_hywia.export import gguf_layout, to_gguf

VARIANTS = [  # (name, HyWIAConfig overrides or None for dense)
    ("dense", None),
    ("20% cost_aware (deci)", dict(pruning_ratio=0.2, allocation="cost_aware")),
    ("50% cost_aware (deci)", dict(pruning_ratio=0.5, allocation="cost_aware")),
    ("50% cost_aware, round_to=64 (deci)", dict(pruning_ratio=0.5, allocation="cost_aware", round_to=64)),
    ("50% uniform (llama)", dict(pruning_ratio=0.5, allocation="uniform", skip_first_layers=0, skip_last_layers=0)),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="f16", choices=["f16", "bf16", "f32", "q8_0"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    return parser.parse_args()


def timed_runs(path: Path, ids: list[int], args: argparse.Namespace) -> tuple[float, float]:
    """Median prefill and decode tokens/s over `runs` runs (one warm-up run first)."""
    import llama_cpp

    prompt, steps = args.prompt_tokens, args.decode_tokens
    llm = llama_cpp.Llama(str(path), n_threads=args.threads, n_threads_batch=args.threads, n_ctx=512, n_batch=512,
                          verbose=False)
    prefill, decode = [], []
    try:
        for _ in range(args.runs + 1):
            llm.reset()
            start = time.perf_counter()
            llm.eval(ids[:prompt])
            middle = time.perf_counter()
            for token in ids[prompt: prompt + steps]:
                llm.eval([token])
            end = time.perf_counter()
            prefill.append(prompt / (middle - start))
            decode.append(steps / (end - middle))
    finally:
        llm.close()
    return statistics.median(prefill[1:]), statistics.median(decode[1:])


def ideal_flops(model, args: argparse.Namespace) -> tuple[int, int]:
    prefill = forward_flops(model, args.prompt_tokens).total
    decode = forward_flops(model, 1, past_tokens=args.prompt_tokens + args.decode_tokens // 2).total
    return prefill, decode


def measure(dense, tokenizer, ids, args, folder: Path) -> list[dict]:
    rows = []
    for name, overrides in VARIANTS:
        model = dense
        if overrides is not None:
            config = HyWIAConfig(importance="magnitude_l1", **overrides)
            model = HyWIAPruner(config).prune(copy.deepcopy(dense))
        path = to_gguf(model, tokenizer, folder / f"{len(rows)}.gguf", dtype=args.dtype, progress=False)
        prefill, decode = timed_runs(path, ids, args)
        flops = ideal_flops(model, args)
        rows.append({"model": name, "architecture": gguf_layout(model).architecture, "params": count_parameters(model),
                     "file_mib": path.stat().st_size / 2**20, "prefill_tok_s": prefill, "decode_tok_s": decode,
                     "prefill_flops": flops[0], "decode_flops": flops[1]})
        print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict], header: str) -> str:
    dense = rows[0]
    lines = [header, "", "| model | GGUF arch | params | file MiB | prefill tok/s | speed-up | ideal (FLOPs) | "
             "decode tok/s | speed-up | ideal (FLOPs) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['architecture']} | {r['params'] / 1e6:.1f}M | {r['file_mib']:.0f} | "
            f"{r['prefill_tok_s']:.0f} | {r['prefill_tok_s'] / dense['prefill_tok_s']:.2f}x | "
            f"{dense['prefill_flops'] / r['prefill_flops']:.2f}x | {r['decode_tok_s']:.1f} | "
            f"{r['decode_tok_s'] / dense['decode_tok_s']:.2f}x | {dense['decode_flops'] / r['decode_flops']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    dense, tokenizer = load_model_and_tokenizer("builtin:smollm2-135m")
    ids = tokenizer(load_text("builtin:prideprejudice")[:4000]).input_ids
    with tempfile.TemporaryDirectory() as folder:
        rows = measure(dense, tokenizer, ids, args, Path(folder))
    header = (f"# llama.cpp speed of pruned SmolLM2-135M (GGUF)\n\n`{command_line()}` · {args.dtype} · "
              f"{args.threads} threads · prefill {args.prompt_tokens} tokens, decode {args.decode_tokens} tokens · median of "
              f"{args.runs} runs after a warm-up · shared machine: timings are noisy, ratios steadier · ideal = "
              "dense FLOPs / pruned FLOPs (`optimum_hywia.evaluation.forward_flops`; the LM head is not pruned).")
    write_results(args.output_dir, "gguf_speed", {"command": command_line(), "machine": machine_info(),
                                                   "dtype": args.dtype, "threads": args.threads, "rows": rows},
                  markdown(rows, header))
    print(markdown(rows, header))


if __name__ == "__main__":
    main()
