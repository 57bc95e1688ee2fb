"""`push`: upload a saved pruned model with its model card; also the `--push-to-hub` options of `prune`."""

from __future__ import annotations

import argparse
import sys


def repo_id_argument(value: str) -> str:
    """argparse type: a Hub repo id (`name` or `namespace/name`), checked before anything is loaded."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError as error:
        raise argparse.ArgumentTypeError(f"invalid Hub repo id {value!r}: {error}") from None
    return value


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Folder of a model saved by `hywia prune` / optimum-hywia.")
    parser.add_argument("--repo-id", required=True, type=repo_id_argument, help="Hub repo, e.g. `me/model-hywia`.")
    parser.add_argument("--token", help="Hub write token (default: HF_TOKEN or the `hf auth login` token).")
    parser.add_argument("--private", action="store_true", help="Create the repo private (if it does not exist).")
    parser.add_argument(
        "--eval-results",
        help="JSON file of results for the card: a list of {task, metric, value, dataset} or a hywia_results.json "
        "(the folder's own hywia_results.json is always used).",
    )
    parser.add_argument("--base-model", help="Hub id of the model that was pruned (default: the one recorded).")
    parser.add_argument("--license", help="License id for the model card (e.g. that of the base model).")
    parser.add_argument("--commit-message", default="Upload HyWIA-pruned model", help="Message of the Hub commit.")


def _push(folder: str, repo_id: str, **options) -> str:
    """Push `folder`; a failed push prints one `error:` line and exits with status 1 (the local save is intact)."""
    from ..hub import HubPushError, push_pruned_model

    try:
        info = push_pruned_model(folder, repo_id, **options)
    except HubPushError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"Pushed {folder} to {repo_id}: {info.commit_url}")
    return info.commit_url


def run_push(args: argparse.Namespace) -> str:
    """Run the push command; returns the commit URL."""
    return _push(
        args.model, args.repo_id, token=args.token, private=args.private, eval_results=args.eval_results,
        base_model=args.base_model, license=args.license, commit_message=args.commit_message,
    )


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """`prune`'s options to push the saved model right after saving it."""
    group = parser.add_argument_group("Hub")
    group.add_argument("--push-to-hub", metavar="REPO_ID", type=repo_id_argument,
                       help="After saving, push the model, its recipe, results and model card to this Hub repo.")
    group.add_argument("--hub-token", help="Hub write token (default: HF_TOKEN or the `hf auth login` token).")
    group.add_argument("--hub-private", action="store_true", help="Create the Hub repo private.")


def push_after_save(args: argparse.Namespace) -> str | None:
    """Push the saved `args.output` to `args.push_to_hub`, when that option was given."""
    if not getattr(args, "push_to_hub", None):
        return None
    return _push(args.output, args.push_to_hub, token=args.hub_token, private=args.hub_private)
