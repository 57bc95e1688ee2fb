"""Peak memory of `hywia prune` on random-weight Llama models, as a user runs it: the CLI in a fresh process.

For each (model, dtype, criterion) the model is saved once as safetensors in that dtype (random weights, SmolLM2's
tokenizer), then `hywia prune --model <folder> --dtype <dtype> --importance <criterion> --eval-windows 0` runs as a
child process; its peak resident memory is the kernel's `ru_maxrss` for that child (`os.wait4`). The baseline is a
child that only imports torch, transformers and optimum_hywia; "net" is the run's peak minus the baseline's, divided
by the bytes of the model's weights. Wall time and time per calibration token come from the same runs.

    python -m benchmarks.benchmark_scale                                 # 1B (bf16, fp32) and 3B (bf16), hywia + element1
    python -m benchmarks.benchmark_scale --models random:llama-50m --dtypes bfloat16 --output-dir /tmp/scale   # quick
    python -m benchmarks.benchmark_scale --extra-args "--statistics-pass buffered" --stem scale_buffered   # the old pass
    python -m benchmarks.benchmark_scale --models random:llama-350m --dtypes float32 --fp32-models random:llama-350m \
        --processes 2                                                  # FSDP2 over two gloo ranks (`--fsdp`)

With `--processes N` the command runs under `torchrun --standalone --nproc_per_node N ... --fsdp`; the peak is then
the largest rank's (`ru_maxrss` of the launcher's wait4 covers its children), net of the same one-process baseline:
memory per rank.

Rows go to `<stem>_rows.jsonl` as they finish; a rerun skips the rows already there.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RANDOM_LLAMA_SHAPES, SMOLLM2, command_line, machine_info, write_results

# Llama-3.2-3B's shape (random weights): 28 layers, hidden 3072, GQA 24/8 heads of 128, its 128,256-token vocabulary
SCALE_SHAPES = {
    **RANDOM_LLAMA_SHAPES,
    "random:llama-3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                            num_key_value_heads=8, head_dim=128, vocab_size=128256),
}
TARGET_NET_RATIO, TARGET_TIME_RATIO = 1.3, 1.5
BASELINE_CODE = "import torch, transformers, optimum_hywia"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["random:llama-1b", "random:llama-3b"],
                        choices=list(SCALE_SHAPES))
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"], choices=["bfloat16", "float32"])
    parser.add_argument("--fp32-models", nargs="*", default=["random:llama-1b"],
                        help="models that also run in float32 (the others in bfloat16 only)")
    parser.add_argument("--importances", nargs="+", default=["hywia", "element1"])
    parser.add_argument("--processes", type=int, default=1, help="FSDP2 ranks (1: one process, no sharding)")
    parser.add_argument("--extra-args", default="", help="more `hywia prune` options, e.g. '--statistics-pass buffered'")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(os.environ.get("HYWIA_CACHE", Path.home() / ".cache" / "optimum_hywia")) / "scale")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--stem", default="scale")
    return parser.parse_args()


def saved_model(name: str, dtype: str, cache: Path) -> Path:
    """The folder of `name`'s random weights in `dtype` (built and saved once, in a child process)."""
    folder = cache / f"{name.split(':')[1]}-{dtype}"
    if (folder / "config.json").exists():
        return folder
    code = f"""
import sys, torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from optimum_hywia.data import resolve_model_path
tokenizer = AutoTokenizer.from_pretrained(resolve_model_path({SMOLLM2!r}))
shape = {SCALE_SHAPES[name]!r}
config = LlamaConfig(**{{"vocab_size": len(tokenizer), **shape}}, tie_word_embeddings=True,
                     max_position_embeddings=2048)
torch.manual_seed(0)
torch.set_default_dtype(getattr(torch, {dtype!r}))
model = LlamaForCausalLM(config)
model.save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
"""
    partial = folder.with_name(folder.name + ".partial")
    subprocess.run([sys.executable, "-c", code, str(partial)], check=True)
    partial.rename(folder)
    return folder


def peak_of(command: list[str]) -> tuple[int, float, str]:
    """(peak RSS bytes, wall seconds, stderr tail) of `command` run as a child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        log.seek(0)
        tail = log.read().decode(errors="replace")[-3000:]
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{tail}")
    return usage.ru_maxrss * 1024, wall, tail


def weight_bytes_of(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(file, framework="pt") as weights:
            for key in weights.keys():
                piece = weights.get_slice(key)
                count = 1
                for size in piece.get_shape():
                    count *= size
                total += count * {"BF16": 2, "F16": 2, "F32": 4}[piece.get_dtype()]
    return total


def measure(name: str, dtype: str, importance: str, args: argparse.Namespace, baseline: int) -> dict:
    folder = saved_model(name, dtype, args.cache_dir)
    with tempfile.TemporaryDirectory() as out:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                    str(args.processes)] if args.processes > 1 else [sys.executable]
        command = [*launcher, "-m", "optimum_hywia.commands.cli", "prune", "--model", str(folder), "--dtype",
                   dtype, "--importance", importance, "--eval-windows", "0", "--output", str(Path(out) / "pruned"),
                   *shlex.split(args.extra_args), *(["--fsdp"] if args.processes > 1 else [])]
        peak, wall, _ = peak_of(command)
        recipe = json.loads((Path(out) / "pruned" / "config.json").read_text())["hywia"]["recipe"]
    weights = weight_bytes_of(folder)
    tokens = recipe["num_calibration_samples"] * recipe["calibration_seq_len"]
    return {"model": name, "dtype": dtype, "importance": importance, "extra_args": args.extra_args,
            "processes": args.processes,
            "weight_bytes": weights, "peak_rss_bytes": peak, "baseline_rss_bytes": baseline,
            "net_ratio": (peak - baseline) / weights, "wall_s": wall, "calibration_tokens": tokens,
            "s_per_calibration_token": wall / tokens, "statistics_pass": recipe.get("statistics_pass")}


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", f"| model | dtype | criterion | processes | weights GB | peak RSS GB (per rank) | "
             f"net ÷ weights (≤ {TARGET_NET_RATIO}) | ÷ one process | wall s | ms / calib. token | "
             f"÷ element1 (≤ {TARGET_TIME_RATIO}) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {(r["model"], r["dtype"], processes_of(r)): r["wall_s"] for r in rows if r["importance"] == "element1"}
    single = {(r["model"], r["dtype"], r["importance"]): r["net_ratio"] for r in rows if processes_of(r) == 1}
    for r in rows:
        versus = base.get((r["model"], r["dtype"], processes_of(r)))
        relative = "" if versus is None else f"{r['wall_s'] / versus:.2f}x"
        one = single.get((r["model"], r["dtype"], r["importance"]))
        per_rank = "" if one is None or processes_of(r) == 1 else f"{r['net_ratio'] / one:.2f}x"
        lines.append(f"| {r['model']} | {r['dtype']} | {r['importance']} | {processes_of(r)} | "
                     f"{r['weight_bytes'] / 1e9:.2f} | "
                     f"{r['peak_rss_bytes'] / 1e9:.2f} | {r['net_ratio']:.2f} | {per_rank} | {r['wall_s']:.0f} | "
                     f"{1e3 * r['s_per_calibration_token']:.1f} | "
                     f"{relative} |")
    return "\n".join(lines)


def processes_of(row: dict) -> int:
    return row.get("processes", 1)  # rows from before FSDP runs were one process


def row_key(row: dict) -> tuple:
    return row["model"], row["dtype"], row["importance"], row["extra_args"], processes_of(row)


def main() -> None:
    """Rows are appended to `<stem>_rows.jsonl` as they finish and a rerun skips those already there (resumable);
    the table is rebuilt from that file after each row."""
    args = parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    rows_file = args.output_dir / f"{args.stem}_rows.jsonl"
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line.strip()] if rows_file.exists() else []
    done = {row_key(row) for row in rows}
    baseline, _, _ = peak_of([sys.executable, "-c", BASELINE_CODE])
    runs = [(m, d) for m in args.models for d in args.dtypes if d == "bfloat16" or m in args.fp32_models]
    for name, dtype in runs:
        for importance in args.importances:
            if (name, dtype, importance, args.extra_args, args.processes) in done:
                continue
            row = {**measure(name, dtype, importance, args, baseline), "command": command_line()}
            rows.append(row)
            with rows_file.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            report(rows, args)
    report(rows, args)


def report(rows: list[dict], args: argparse.Namespace) -> None:
    commands = "; ".join(f"`{c}`" for c in dict.fromkeys(r.get("command", "") for r in rows))
    header = (f"Peak memory of `hywia prune` (defaults, `--eval-windows 0`), net of a process that only imports "
              f"torch/transformers/optimum_hywia (measured before each run). Commands: {commands}. "
              f"Machine: {machine_info()}.")
    write_results(args.output_dir, args.stem, {"machine": machine_info(), "rows": rows}, markdown(rows, header))
    print(markdown(rows, header))


if __name__ == "__main__":
    main()
