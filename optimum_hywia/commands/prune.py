"""`prune`: load a model, measure it, prune it, measure again, save it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import add_config_arguments, config_from_arguments
from .push import add_hub_arguments, push_after_save
from .recover_options import add_recovery_arguments, check_recovery_arguments, plan_recovery, recover_from_arguments

DTYPES = ("float32", "bfloat16", "float16")


def add_prune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Hub id, local folder or `builtin:smollm2-135m`.")
    parser.add_argument(
        "--output",
        required=True,
        help="Folder to save the pruned model in: new, empty or a previous optimum-hywia save (see --overwrite).",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="Replace --output even when it holds something else (deleting it)."
    )
    parser.add_argument("--config", help="A hywia_config.json (or folder holding one) to start from.")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="Dtype to load and prune in.")
    parser.add_argument("--eval-data", default="builtin:prideprejudice", help="Held-out text for perplexity.")
    parser.add_argument("--eval-windows", type=int, default=50, help="128-token windows for perplexity; 0 skips it.")
    parser.add_argument(
        "--save-as-original-architecture",
        action="store_true",
        help="Save as the plain original class (only when every layer keeps the same widths).",
    )
    parser.add_argument(
        "--fsdp",
        action="store_true",
        help="Shard the model over the processes of a torch.distributed launch with FSDP2 (one per device: "
        "`torchrun --nproc_per_node N --no-python hywia prune ... --fsdp`); rank 0 saves the pruned model.",
    )
    add_config_arguments(parser)
    add_recovery_arguments(parser)
    add_hub_arguments(parser)


def _measure(model, tokenizer, args) -> float | None:
    if args.eval_windows <= 0:
        return None
    from ..evaluation import perplexity

    return perplexity(model, tokenizer, args.eval_data, seq_len=128, max_windows=args.eval_windows)


def _check_before_loading(args: argparse.Namespace) -> None:
    """What can be refused before the weights are loaded: output folder, eval text, model config."""
    from ..architectures import check_supported_config
    from ..data import check_text_source, resolve_model_path
    from ..data.checkpoint import load_model_config
    from ..folders import check_output_folder

    check_output_folder(args.output, args.overwrite, protected=[args.model])
    if args.eval_windows > 0:
        check_text_source(args.eval_data)
    check_supported_config(load_model_config(args.model, resolve_model_path(args.model)))


def _check_fsdp_arguments(args: argparse.Namespace) -> None:
    if args.fsdp and args.recover is not None:
        raise ValueError(
            f"`--recover {args.recover}` does not run under `--fsdp`; prune with --fsdp, then recover the saved model "
            "in a Trainer run (docs/callback.md)."
        )


def results_table(rows: list[tuple[str, int, float | None]]) -> str:
    lines = ["| model | parameters | perplexity |", "|---|---|---|"]
    for name, params, ppl in rows:
        lines.append(f"| {name} | {params:,} | {'-' if ppl is None else f'{ppl:.2f}'} |")
    return "\n".join(lines)


def run_prune(args: argparse.Namespace) -> dict:
    """Run the prune command; returns the results it also prints and saves as `hywia_results.json`."""
    import torch

    from ..configuration import HyWIAConfig
    from ..data import load_model_and_tokenizer
    from ..export.runtimes import report_table, serving_report
    from ..fsdp import close_distributed, init_distributed, shard_model
    from ..pruner import HyWIAPruner, count_parameters

    base = HyWIAConfig.from_pretrained(args.config) if args.config else None
    config = config_from_arguments(args, base)  # validated before anything is loaded or written
    _check_before_loading(args)
    _check_fsdp_arguments(args)
    recovery_text = check_recovery_arguments(args)
    if args.fsdp:
        init_distributed()
    # under FSDP the weights stay mapped until each rank has copied out its rows, and the model is measured sharded
    model, tokenizer = load_model_and_tokenizer(args.model, dtype=getattr(torch, args.dtype),
                                                read_into_memory=not args.fsdp)
    if args.fsdp:
        model = shard_model(model)
    params_dense, ppl_dense = count_parameters(model), _measure(model, tokenizer, args)
    recovery = None if recovery_text is None else plan_recovery(model, tokenizer, recovery_text, args)  # dense teacher
    pruner = HyWIAPruner(config)
    model = pruner.prune(model, tokenizer=tokenizer)
    if model is None:  # an FSDP rank other than 0: rank 0 measures and saves
        close_distributed()
        return {}
    print(pruner.summary.to_table())
    ppl_pruned = _measure(model, tokenizer, args)
    rows = [("dense", params_dense, ppl_dense), ("pruned", pruner.summary.params_after, ppl_pruned)]
    if recovery is not None:
        model = recover_from_arguments(model, recovery, args)
        rows.append((f"pruned + {args.recover}", pruner.summary.params_after, _measure(model, tokenizer, args)))
    table = results_table(rows)
    results = {
        "model": args.model,
        "eval_data": args.eval_data,
        "eval_windows": args.eval_windows,
        "dense": {"params": params_dense, "perplexity": ppl_dense},
        "pruned": {"params": pruner.summary.params_after, "perplexity": ppl_pruned},
        "summary": pruner.summary.to_dict(),
    }
    if recovery is not None:
        results["recovered"] = {"params": rows[-1][1], "perplexity": rows[-1][2],
                                "recovery": model.config.hywia["recovery"]}
    pruner.save_pretrained(
        model,
        args.output,
        tokenizer=tokenizer,
        as_original_architecture=args.save_as_original_architecture,
        extra_files={"hywia_results.json": json.dumps(results, indent=2) + "\n"},
        overwrite=args.overwrite,
    )
    print(f"\n{table}\n\nSaved to {Path(args.output).resolve()}")
    print(f"\nWhere it runs (`hywia serve-check --model {args.output}`):\n{report_table(serving_report(args.output))}")
    push_after_save(args)
    if args.fsdp:
        close_distributed()
    return results
