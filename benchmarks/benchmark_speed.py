"""Inference speed of pruned models against their dense originals: measured speedup, ideal speedup, efficiency.

For each model, pruning ratio and `round_to`, a copy of the model is pruned, then the dense and the pruned model are
timed in this process, interleaved (dense, pruned, dense, pruned, ...), after one warm-up each; the median of
`--repeats` runs counts:

- prefill: one forward pass of batch 1 x `--prefill-tokens` tokens, logits of the last token only (as `generate`
  runs its prefill), KV cache written;
- decode: `--decode-tokens` greedy steps with the KV cache after a `--prompt-tokens` prompt; the prompt's prefill is
  not timed.

Measured speedup = dense time / pruned time. Ideal speedup = dense FLOPs / pruned FLOPs of the same work
(`optimum_hywia.evaluation.forward_flops`: every Linear incl. the LM head, plus QKᵀ and AV; for decode the sum over
the steps' cache lengths). Efficiency = measured / ideal: how much of the arithmetic saved turns into time saved
(the target is >= 0.9).

Speed depends only on the kept widths, not on which units are kept, so the default criterion is the cheapest
(`--importance magnitude_l1`, no calibration) under `--allocation cost_aware` (attention and MLP compete for one
parameter budget, as in the quality benchmarks); both can be changed. Prompts are random token ids (fixed seed):
speed does not depend on the text. fp32, `torch.inference_mode()`.

    python -m benchmarks.benchmark_speed    # SmolLM2-135M and a random-init 1B Llama, ratios 0.2 0.5, round_to 1 8 64
    python -m benchmarks.benchmark_speed --models random:llama-50m --ratios 0.5 --round-to 1 8 --repeats 2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time
from pathlib import Path

import torch
from benchmarks.common import command_line, load_benchmark_model, machine_info, pyplot, write_results

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.evaluation import forward_flops
from optimum_hywia.importance import get_importance
from optimum_hywia.pruner import count_parameters

TARGET_EFFICIENCY = 0.9


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["builtin:smollm2-135m", "random:llama-1b"])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--round-to", type=int, nargs="+", default=[1, 8, 64], help="HyWIAConfig.round_to values")
    parser.add_argument("--importance", default="magnitude_l1")
    parser.add_argument("--allocation", default="cost_aware")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--prefill-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=16, help="prompt before the decode steps (not timed)")
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-init models and the prompts")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="speed", help="file stem")
    return parser.parse_args()


@torch.inference_mode()
def prefill_seconds(model, ids: torch.Tensor) -> float:
    start = time.perf_counter()
    model(ids, use_cache=True, logits_to_keep=1)
    return time.perf_counter() - start


@torch.inference_mode()
def decode_seconds(model, prompt: torch.Tensor, steps: int) -> float:
    """Seconds of `steps` greedy single-token steps with the KV cache, after an untimed prefill of `prompt`."""
    output = model(prompt, use_cache=True, logits_to_keep=1)
    token = output.logits[:, -1].argmax(-1, keepdim=True)
    start = time.perf_counter()
    for _ in range(steps):
        output = model(token, cache=output.cache, use_cache=True)
        token = output.logits[:, -1].argmax(-1, keepdim=True)
    return time.perf_counter() - start


def timed_pair(dense, pruned, prefill_ids: torch.Tensor, prompt: torch.Tensor, args) -> dict:
    """Median prefill and decode seconds of both models, measured interleaved after one warm-up each."""
    times = {(name, kind): [] for name in ("dense", "pruned") for kind in ("prefill", "decode")}
    for repeat in range(args.repeats + 1):
        for name, model in (("dense", dense), ("pruned", pruned)):
            prefill = prefill_seconds(model, prefill_ids)
            decode = decode_seconds(model, prompt, args.decode_tokens)
            if repeat > 0:  # run 0 warms up
                times[name, "prefill"].append(prefill)
                times[name, "decode"].append(decode)
    return {f"{kind}_s_{name}": statistics.median(values) for (name, kind), values in times.items()} | {
        "raw_s": {f"{name}_{kind}": values for (name, kind), values in times.items()}
    }


def ideal_speedups(dense, pruned, args) -> dict:
    def prefill(model) -> int:
        return forward_flops(model, args.prefill_tokens, logits_to_keep=1).total

    def decode(model) -> int:
        return sum(
            forward_flops(model, 1, past_tokens=args.prompt_tokens + step).total for step in range(args.decode_tokens)
        )

    return {"prefill_ideal": prefill(dense) / prefill(pruned), "decode_ideal": decode(dense) / decode(pruned)}


def pruned_variants(dense, tokenizer, ratio: float, args):
    """(round_to, pruned copy, summary) for every `--round-to`, from one scoring pass of `dense`."""
    config = HyWIAConfig(pruning_ratio=ratio, importance=args.importance, allocation=args.allocation, seed=args.seed)
    pruner = HyWIAPruner(config)
    context = pruner.scoring_context(dense, None, tokenizer)
    result = get_importance(config.importance).run(context)
    for round_to in args.round_to:
        pruner.config = dataclasses.replace(config, round_to=round_to)
        model = pruner.apply(copy.deepcopy(dense), context.sharing_statistics(pruner.config), result)
        yield round_to, model.eval(), pruner.summary
        del model  # one pruned copy in memory at a time


def run_model(name: str, args) -> list[dict]:
    dense, tokenizer = load_benchmark_model(name, seed=args.seed)
    dense = dense.float().eval()
    generator = torch.Generator().manual_seed(args.seed)
    prefill_ids = torch.randint(0, len(tokenizer), (1, args.prefill_tokens), generator=generator)
    prompt = torch.randint(0, len(tokenizer), (1, args.prompt_tokens), generator=generator)
    rows = []
    for ratio in args.ratios:
        for round_to, pruned, summary in pruned_variants(dense, tokenizer, ratio, args):
            times = timed_pair(dense, pruned, prefill_ids, prompt, args)
            row = {
                "model": name,
                "ratio": ratio,
                "round_to": round_to,
                "params_dense": count_parameters(dense),
                "params_kept": summary.kept_fraction,
                **times,
                **ideal_speedups(dense, pruned, args),
                "decode_tok_s_dense": args.decode_tokens / times["decode_s_dense"],
                "decode_tok_s_pruned": args.decode_tokens / times["decode_s_pruned"],
                "mlp_widths": [w["intermediate_size"] for w in summary.widths_after],
                "kv_heads": [w["num_key_value_heads"] for w in summary.widths_after],
            }
            for kind in ("prefill", "decode"):
                row[f"{kind}_measured"] = times[f"{kind}_s_dense"] / times[f"{kind}_s_pruned"]
                row[f"{kind}_efficiency"] = row[f"{kind}_measured"] / row[f"{kind}_ideal"]
            print({k: v for k, v in row.items() if k not in ("raw_s", "mlp_widths", "kv_heads")}, flush=True)
            rows.append(row)
            del pruned
    return rows


def markdown(rows: list[dict], args) -> str:
    header = (
        f"# Inference speed: measured against ideal (FLOPs) speedup\n\nCommand: `{command_line()}`  \n"
        f"Prefill: batch 1 x {args.prefill_tokens} tokens. Decode: {args.decode_tokens} greedy tokens with KV cache "
        f"after a {args.prompt_tokens}-token prompt. Median of {args.repeats} interleaved runs after a warm-up; fp32; "
        f"{torch.get_num_threads()} torch threads. Pruning: {args.importance} / {args.allocation}.  \n"
        f"Efficiency = measured / ideal speedup (target >= {TARGET_EFFICIENCY}).  \nMachine: {machine_info()}"
    )
    columns = (
        "| model | ratio | round_to | params kept | prefill ms dense → pruned | prefill speedup measured | ideal | "
        "efficiency | decode tok/s dense → pruned | decode speedup measured | ideal | efficiency |"
    )
    lines = [header, "", columns, "|---" * 12 + "|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['ratio']} | {r['round_to']} | {100 * r['params_kept']:.1f}% | "
            f"{1e3 * r['prefill_s_dense']:.1f} → {1e3 * r['prefill_s_pruned']:.1f} | {r['prefill_measured']:.2f}x | "
            f"{r['prefill_ideal']:.2f}x | {r['prefill_efficiency']:.2f} | "
            f"{r['decode_tok_s_dense']:.1f} → {r['decode_tok_s_pruned']:.1f} | {r['decode_measured']:.2f}x | "
            f"{r['decode_ideal']:.2f}x | {r['decode_efficiency']:.2f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Measured against ideal speedup, prefill and decode; the diagonal is efficiency 1."""
    plt = pyplot()

    markers = dict(zip(sorted({r["round_to"] for r in rows}), "os^Dvx*P"))
    colors = dict(zip(sorted({r["model"] for r in rows}), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for axis, kind in zip(axes, ("prefill", "decode")):
        for r in rows:
            axis.scatter(
                r[f"{kind}_ideal"],
                r[f"{kind}_measured"],
                marker=markers[r["round_to"]],
                color=colors[r["model"]],
                label=f"{r['model']}, round_to {r['round_to']}",
            )
        top = max(max(r[f"{kind}_ideal"], r[f"{kind}_measured"]) for r in rows) * 1.05
        axis.plot([1, top], [1, top], "k--", linewidth=0.8, label="measured = ideal")
        axis.plot(
            [1, top],
            [TARGET_EFFICIENCY, TARGET_EFFICIENCY * top],
            "k:",
            linewidth=0.8,
            label=f"efficiency {TARGET_EFFICIENCY}",
        )
        axis.set(title=f"{kind} speedup", xlabel="ideal (dense FLOPs / pruned FLOPs)", ylabel="measured (time ratio)")
    unique = {label: handle for axis in axes for handle, label in zip(*axis.get_legend_handles_labels())}
    axes[1].legend(unique.values(), unique.keys(), fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rows = [row for name in args.models for row in run_model(name, args)]
    table = markdown(rows, args)
    payload = {
        "command": command_line(),
        "machine": machine_info(),
        "torch_threads": torch.get_num_threads(),
        "seeds": {"models": args.seed, "prompts": args.seed, "pruning": args.seed},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": rows,
    }
    write_results(args.output_dir, args.name, payload, table)
    plot(rows, args.output_dir / f"{args.name}.png")
    print(table)


if __name__ == "__main__":
    main()
