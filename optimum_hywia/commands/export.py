"""`export`: write a saved model in a serving format (GGUF for llama.cpp); `serve-check`: which runtimes run it."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("gguf",)
GGUF_DTYPES = ("f16", "bf16", "f32", "q8_0")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Folder of a saved (pruned) model, a Hub id or `builtin:...`.")
    parser.add_argument("--format", choices=FORMATS, default="gguf", help="Output format.")
    parser.add_argument("--output", required=True, help="File to write, e.g. `model.gguf`.")
    parser.add_argument("--dtype", choices=GGUF_DTYPES, default="f16",
                        help="Storage of the weight matrices (norms and biases stay f32).")
    parser.add_argument("--overwrite", action="store_true",
                        help="Replace an existing file that optimum-hywia did not write.")


def run_export(args: argparse.Namespace) -> Path:
    """Run the export command; returns the path written."""
    import torch

    from ..data import load_model_and_tokenizer, resolve_model_path
    from ..data.checkpoint import load_model_config
    from ..export import to_gguf
    from ..export.gguf import check_output_path
    from ..export.layout import check_exportable_config

    output = Path(args.output)
    try:
        check_output_path(output, args.overwrite)  # before the model is loaded: bad input costs nothing
        check_exportable_config(load_model_config(args.model, resolve_model_path(args.model)))
        model, tokenizer = load_model_and_tokenizer(args.model, dtype=torch.float32)
        path = to_gguf(model, tokenizer, output, dtype=args.dtype, overwrite=args.overwrite)
    except FileExistsError as error:
        raise ValueError(str(error)) from None
    print(f"Wrote {path.resolve()} ({path.stat().st_size / 2**20:.1f} MiB)")
    return path


def add_serve_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Folder of a saved (pruned) model.")


def run_serve_check(args: argparse.Namespace) -> list:
    """Print which runtimes can run the saved model and the command for each; returns the rows."""
    from ..export.runtimes import report_table, serving_report

    rows = serving_report(args.model)
    print(report_table(rows))
    return rows
