"""`eval`: zero-shot accuracy (lm-eval) and perplexity of a model; a markdown table on stdout, a JSON file out."""

from __future__ import annotations

import argparse
import sys
import time

DTYPES = ("float32", "bfloat16", "float16")
SPLITS = ("test", "validation")
PRECISIONS = ("auto", "float32", "bfloat16")
DEFAULT_TASKS = ("austen_lastword,austen_nextsentence,austen_names,jargon_nextsentence,austen_wordorder,"
                 "jargon_wordorder,ppl")  # the offline suite
TASKS_HELP = (
    "Comma-separated tasks. Zero-shot: austen_lastword, austen_nextsentence, austen_names, jargon_nextsentence, "
    "austen_wordorder, jargon_wordorder (offline, shipped; with two or more tasks a `mean` row follows), boolq, piqa, "
    "hellaswag, winogrande, arc_easy, arc_challenge, openbookqa (need the Hub) or any lm-eval task. Perplexity: "
    "`ppl` (builtin:prideprejudice), `ppl:<source>` with source wikitext2, ptb, jargon, prideprejudice, "
    "builtin:<name>, a text file or hub:<dataset>[:<config>[:<split>]]."
)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `hywia eval` / `optimum-cli hywia eval`."""
    parser.add_argument("--model", required=True, help="Hub id, local folder or `builtin:smollm2-135m`.")
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help=TASKS_HELP)
    parser.add_argument("--limit", type=int, default=None, help="Score only the first N items of each zero-shot task.")
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="Items of the offline tasks to score: test (final numbers, default) or validation (for "
                             "anything you choose with them).")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="Zero-shot scoring precision: auto (bfloat16 where the hardware has it), float32, "
                             "bfloat16.")
    parser.add_argument("--output", help="Write the results as JSON here (rows: task, metric, value, stderr, dataset).")
    parser.add_argument("--batch-size", type=int, default=8, help="Batch size for lm-eval and perplexity (default: 8).")
    parser.add_argument("--seq-len", type=int, default=128, help="Perplexity window length in tokens (default: 128).")
    parser.add_argument("--ppl-windows", type=int, default=None, help="Perplexity over the first N windows only.")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="Dtype to load the model in.")
    parser.add_argument("--device", default=None, help="Device to evaluate on (default: cuda if available, else cpu).")


def _check_numbers(args: argparse.Namespace) -> None:
    for name in ("limit", "batch_size", "seq_len", "ppl_windows"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"`--{name.replace('_', '-')}` must be a positive integer, got {value}.")
    if args.seq_len < 2:
        raise ValueError(f"`--seq-len` must be >= 2, got {args.seq_len}.")


def run_eval(args: argparse.Namespace) -> list[dict]:
    """Run the eval command; returns the result rows it also prints (and saves with `--output`)."""
    import torch

    from ..data import HubDatasetUnavailableError, load_model_and_tokenizer
    from ..evaluation import EvalPlan, results_table, save_results

    _check_numbers(args)
    try:
        plan = EvalPlan.from_tasks(args.tasks)  # checked (and Hub texts fetched) before the model is loaded
        model, tokenizer = load_model_and_tokenizer(args.model, dtype=getattr(torch, args.dtype))
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        start = time.perf_counter()
        rows = plan.run(model, tokenizer, args.limit, args.batch_size, args.seq_len, args.ppl_windows, args.split,
                        args.precision)
    except HubDatasetUnavailableError as error:
        sys.exit(f"hywia eval: error: {error}")
    elapsed = time.perf_counter() - start
    print(results_table(rows))
    print(f"\nmodel: {args.model} | split: {args.split} | limit: {args.limit or 'none'} | {elapsed:.0f} s on {device}")
    if args.output:
        settings = {key: getattr(args, key)
                    for key in ("model", "tasks", "split", "limit", "seq_len", "ppl_windows", "dtype", "precision")}
        path = save_results(args.output, rows, **settings, device=device, seconds=round(elapsed, 1))
        print(f"Saved to {path.resolve()}")
    return rows
