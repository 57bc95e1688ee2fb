"""`export`: write a saved model in a serving format (GGUF for llama.cpp); `serve-check`: which runtimes run it."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("gguf",)
K_QUANT_NAMES = ("q2_k", "q3_k_m", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k")
GGUF_DTYPES = ("f16", "bf16", "f32", "q8_0", *K_QUANT_NAMES)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Folder of a saved (pruned) model, a Hub id or `builtin:...`.")
    parser.add_argument("--format", choices=FORMATS, default="gguf", help="Output format.")
    parser.add_argument("--output", required=True, help="File to write, e.g. `model.gguf`.")
    parser.add_argument("--dtype", choices=GGUF_DTYPES, default="f16",
                        help="Storage of the weight matrices (norms and biases stay f32); the k-quants (q4_k_m, ...) "
                             "run llama.cpp's quantizer on the f16 export (needs the `gguf` extra).")
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
    if args.dtype in K_QUANT_NAMES:
        from ..export.quantize import fallback_tensors, tensor_types

        fallbacks = fallback_tensors(path)
        print(f"Tensor types: {tensor_types(path)}; {len(fallbacks)} weight(s) in llama.cpp's fallback type "
              f"(rows not a multiple of 256){': ' + ', '.join(fallbacks[:6]) if fallbacks else ''}"
              f"{' ...' if len(fallbacks) > 6 else ''}")
    return path


def add_serve_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Folder of a saved (pruned) model.")


def run_serve_check(args: argparse.Namespace) -> list:
    """Print which runtimes can run the saved model and the command for each; returns the rows."""
    from ..export.runtimes import report_table, serving_report

    rows = serving_report(args.model)
    print(report_table(rows))
    return rows
