"""What pruning costs: wall time and peak memory of each criterion on models of growing size, same calibration set.

Every (model, variant) runs in a fresh process, so each peak RSS is its own. A run loads the model, builds the
calibration batches (not timed), then times the three phases of `HyWIAPruner.prune`:

- statistics: the calibration pass the criterion needs (gradients for the Taylor criteria, per-sequence gradients
  for element2, activations for flap);
- score: the criterion given those statistics (for hywia, the fusion training);
- apply: allocation, selection and surgery.

Memory is reported as peak RSS ÷ fp32 weight bytes, both whole-process and net of the process before the model was
loaded (Python, torch and transformers themselves, about 0.4 GB, weigh heavily on small models). Every model runs
the criteria with library defaults and hywia with a small fusion budget (`FAST_FUSION`); the memory and precision
options run on one model (`--options-model`); element1 and hywia also run at other calibration sizes
(`--sweep-model`, `--sweep-samples`).

    python -m benchmarks.benchmark_cost            # 4 models x 6 variants, options on the 350M model, a calibration sweep
    python -m benchmarks.benchmark_cost --models random:llama-50m --variants element1 hywia --options-model "" \
        --sweep-samples --output-dir /tmp/cost     # a quick check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    RANDOM_LLAMA_SHAPES,
    SMOLLM2,
    command_line,
    current_rss_bytes,
    load_benchmark_model,
    machine_info,
    measured,
    pyplot,
    weight_bytes,
    write_results,
)

FAST_FUSION = {"fusion_steps": 20, "fusion_batch_size": 1, "fusion_seq_len": 64, "fusion_holdout_samples": 2,
               "fusion_eval_every": 10}
# variant -> (criterion, HyWIAConfig overrides); the first six run on every model, the rest on `--options-model`
VARIANTS = {
    "element1": ("element1", {}),
    "element2": ("element2", {}),
    "vector": ("vector", {}),
    "flap": ("flap", {}),
    "hywia": ("hywia", {}),
    "hywia fast fusion": ("hywia", FAST_FUSION),
    "hywia bf16 autocast": ("hywia", {"fusion_autocast": "bfloat16"}),
    "hywia fp32 fusion": ("hywia", {"fusion_autocast": "float32"}),  # the default where the hardware has no fast bf16
    "element1 ckpt+bf16 stats": ("element1", {"gradient_checkpointing": True, "statistics_dtype": "bfloat16"}),
    "element1 4 layers/pass": ("element1", {"layers_per_pass": 4}),
    "element1 micro-batch 1": ("element1", {"gradient_micro_batch": 1}),
    "element1 micro-batch 1+ckpt": ("element1", {"gradient_micro_batch": 1, "gradient_checkpointing": True}),
}
EVERY_MODEL = list(VARIANTS)[:6]
TARGET_WALL_RATIO, TARGET_RSS_RATIO = 1.5, 2.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[SMOLLM2, *RANDOM_LLAMA_SHAPES])
    parser.add_argument("--variants", nargs="+", default=EVERY_MODEL, choices=list(VARIANTS),
                        help="variants run on every model")
    parser.add_argument("--options-model", default="random:llama-350m",
                        help="the model the remaining variants (memory and speed options) run on")
    parser.add_argument("--ratio", type=float, default=0.2)
    parser.add_argument("--samples", type=int, default=16, help="calibration windows")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per calibration window")
    parser.add_argument("--sweep-samples", type=int, nargs="*", default=[4, 32],
                        help="extra calibration sizes for element1 and hywia on --sweep-model")
    parser.add_argument("--sweep-model", default="random:llama-50m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--from-rows", type=Path, default=None,
                        help="only rebuild the table and plot from an earlier run's cost_rows.jsonl")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure_one(spec: dict) -> dict:
    """Run one variant in this process; return its timings and memory."""
    from optimum_hywia import HyWIAConfig, HyWIAPruner
    from optimum_hywia.importance import get_importance

    rss_start = current_rss_bytes()
    model, tokenizer = load_benchmark_model(spec["model"], seed=spec["seed"])
    criterion, overrides = VARIANTS[spec["variant"]]
    config = HyWIAConfig(importance=criterion, pruning_ratio=spec["ratio"], seed=spec["seed"],
                         num_calibration_samples=spec["samples"], calibration_seq_len=spec["seq_len"],
                         **{"fusion_holdout_samples": min(4, spec["samples"] - 1), **overrides})  # >= 1 window trains
    pruner = HyWIAPruner(config)
    context = pruner.scoring_context(model, None, tokenizer)  # calibration windows from the config, not timed
    params, weights = sum(p.numel() for p in model.parameters()), weight_bytes(model)
    rss_model = current_rss_bytes()
    phases = {}
    with measured() as total:
        start = time.perf_counter()
        if criterion == "flap":
            context.statistics.activations()
        else:
            context.statistics.taylor(second_order=criterion == "element2")
        phases["statistics_s"] = time.perf_counter() - start
        start = time.perf_counter()
        result = get_importance(criterion).run(context)
        phases["score_s"] = time.perf_counter() - start
        start = time.perf_counter()
        pruner.apply(model, context, result)
        phases["apply_s"] = time.perf_counter() - start
    return {**spec, "criterion": criterion, "overrides": overrides, "params": params, "weight_bytes": weights,
            "calibration_tokens": spec["samples"] * spec["seq_len"], "wall_s": total.wall_s, **phases,
            "peak_rss_bytes": total.peak_rss_bytes, "rss_start_bytes": rss_start, "rss_model_bytes": rss_model,
            "rss_ratio": total.peak_rss_bytes / weights,
            "net_rss_ratio": (total.peak_rss_bytes - rss_start) / weights,
            "kept_fraction": pruner.summary.kept_fraction}


def run_child(spec: dict) -> dict:
    """`measure_one` in a fresh interpreter (its own peak RSS); its last stdout line is the JSON row."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.benchmark_cost", "--child", json.dumps(spec)],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        raise RuntimeError(f"{spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def with_ratios(rows: list[dict]) -> list[dict]:
    """Each row's wall time relative to element1 (defaults) on the same model and calibration size."""
    base = {(r["model"], r["samples"]): r["wall_s"] for r in rows if r["variant"] == "element1"}
    return [{**r, "wall_vs_element1": r["wall_s"] / base[r["model"], r["samples"]]
             if (r["model"], r["samples"]) in base else None} for r in rows]


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| model | params | calib. tokens | variant | wall s | statistics s | score s | apply s | "
             f"wall ÷ element1 (≤ {TARGET_WALL_RATIO}) | wall ÷ own statistics pass | peak RSS GB | RSS ÷ fp32 "
             f"weights | net RSS ÷ weights (≤ {TARGET_RSS_RATIO}) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["params"], r["calibration_tokens"], list(VARIANTS).index(r["variant"]))):
        ratio = "" if r["wall_vs_element1"] is None else f"{r['wall_vs_element1']:.2f}x"
        lines.append(f"| {r['model']} | {r['params'] / 1e6:.0f}M | {r['calibration_tokens']} | {r['variant']} | "
                     f"{r['wall_s']:.1f} | {r['statistics_s']:.1f} | {r['score_s']:.1f} | {r['apply_s']:.1f} | "
                     f"{ratio} | {r['wall_s'] / r['statistics_s']:.2f}x | {r['peak_rss_bytes'] / 2**30:.2f} | "
                     f"{r['rss_ratio']:.2f} | {r['net_rss_ratio']:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, samples: int, sweep_model: str) -> None:
    plt = pyplot()

    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for variant in VARIANTS:
        mine = sorted((r for r in rows if r["variant"] == variant and r["samples"] == samples),
                      key=lambda r: r["params"])
        if not mine:
            continue
        x = [r["params"] / 1e6 for r in mine]
        axes[0].plot(x, [r["wall_s"] for r in mine], marker="o", label=variant)
        axes[1].plot(x, [r["net_rss_ratio"] for r in mine], marker="o", label=variant)
    axes[1].axhline(TARGET_RSS_RATIO, color="grey", linestyle=":", label="target")
    for variant in ("element1", "hywia"):
        mine = sorted((r for r in rows if r["variant"] == variant and r["model"] == sweep_model),
                      key=lambda r: r["calibration_tokens"])
        axes[2].plot([r["calibration_tokens"] for r in mine], [r["wall_s"] for r in mine], marker="o", label=variant)
    axes[0].set(xscale="log", yscale="log", xlabel="parameters (M)", ylabel="wall s", title="Pruning wall time")
    axes[1].set(xscale="log", xlabel="parameters (M)", ylabel="(peak RSS − start) ÷ fp32 weight bytes",
                title="Peak memory")
    axes[2].set(xlabel="calibration tokens", ylabel="wall s", title=f"Calibration size ({sweep_model})")
    for ax in axes:
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(measure_one(json.loads(args.child))), flush=True)
        return
    if args.from_rows:
        rows = [json.loads(line) for line in args.from_rows.read_text().splitlines() if line.strip()]
        report(rows, args, f"`{command_line()}`, from the {len(rows)} rows an earlier run wrote to {args.from_rows.name}")
        return
    base = {"ratio": args.ratio, "seq_len": args.seq_len, "seed": args.seed}
    specs = [{**base, "model": model, "variant": variant, "samples": args.samples}
             for model in args.models for variant in args.variants]
    if args.options_model:
        specs += [{**base, "model": args.options_model, "variant": variant, "samples": args.samples}
                  for variant in VARIANTS if variant not in args.variants]
    specs += [{**base, "model": args.sweep_model, "variant": variant, "samples": samples}
              for samples in args.sweep_samples for variant in ("element1", "hywia")]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    log = args.output_dir / "cost_rows.jsonl"
    log.write_text("")
    rows = []
    for spec in specs:
        row = run_child(spec)
        print({k: row[k] for k in ("model", "variant", "samples", "wall_s", "statistics_s", "score_s", "net_rss_ratio")},
              flush=True)
        with log.open("a") as stream:
            stream.write(json.dumps(row) + "\n")
        rows.append(row)
    report(rows, args, f"command `{command_line()}`")


def report(rows: list[dict], args: argparse.Namespace, source: str) -> None:
    rows = with_ratios(rows)
    models = sorted({r["model"] for r in rows}, key=lambda m: min(r["params"] for r in rows if r["model"] == m))
    header = (f"# Pruning cost on {', '.join(models)}\n\nMade by {source}.  \nRatio {rows[0]['ratio']}, "
              f"calibration {args.samples} x {rows[0]['seq_len']} tokens unless the row says otherwise (builtin "
              f"default text, seed {rows[0]['seed']}), fp32, one process per row. \"wall ÷ own statistics pass\": "
              f"the run's total over its own calibration pass, free of run-to-run noise.  \nMachine: {machine_info()}")
    text = markdown(rows, header)
    write_results(args.output_dir, "cost", {"command": command_line(), "machine": machine_info(), "rows": rows}, text)
    plot(rows, args.output_dir / "cost.png", args.samples, args.sweep_model)
    print(text)


if __name__ == "__main__":
    main()
