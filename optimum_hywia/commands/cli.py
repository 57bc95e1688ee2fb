"""The standalone `hywia` command (the same subcommands as `optimum-cli hywia`)."""

from __future__ import annotations

import argparse
import sys

from ..errors import HyWIAError
from ..memory import hand_back_freed_memory
from .evaluate import add_eval_arguments, run_eval
from .export import add_export_arguments, add_serve_check_arguments, run_export, run_serve_check
from .prune import add_prune_arguments, run_prune
from .push import add_push_arguments, run_push

SUBCOMMANDS = {
    "prune": ("Prune a causal LM with HyWIA and save it.", add_prune_arguments, run_prune),
    "eval": ("Evaluate a model: zero-shot accuracy (lm-eval) and perplexity.", add_eval_arguments, run_eval),
    "push": ("Push a saved pruned model with its model card to the Hugging Face Hub.", add_push_arguments, run_push),
    "export": ("Export a saved model to GGUF for llama.cpp (per-layer widths included).", add_export_arguments,
               run_export),
    "serve-check": ("Which runtimes can run a saved model, and the command for each.", add_serve_check_arguments,
                    run_serve_check),
}


def build_parser(prog: str = "hywia") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Structured pruning of LLMs with HyWIA.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(subparser)
        subparser.set_defaults(run=run, subparser=subparser)
    return parser


def run_reporting_errors(run, args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Run a subcommand; bad input becomes one `error:` line and exit status 2, as argparse does."""
    hand_back_freed_memory()
    try:
        run(args)
    except (HyWIAError, ValueError, FileNotFoundError, ImportError) as error:
        parser.error(str(error))


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    run_reporting_errors(args.run, args, args.subparser)  # errors print `hywia <command>`'s usage


if __name__ == "__main__":
    main(sys.argv[1:])
