"""Pushing a pruned model to the Hub in one commit: weights, config with per-layer widths, the family's modeling file
(`modeling_hywia_<family>.py` + `modeling_hywia_base.py`), recipe, tokenizer, generation config, model card and widths
plot. A failed push says where it failed, leaves local files untouched and can simply be retried."""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants

from ..configuration import CONFIG_NAME, HyWIAConfig, recipe_json
from ..modeling import is_pruned_model, save_pruned_model
from .card import write_model_card
from .eval_results import EvalResultsInput, load_eval_results
from .facts import PruningFacts

# Weight files a new push replaces: left in the repo, a stale shard or index could be loaded instead of the new file.
WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "*.bin", "*.bin.index.json", "*.pt", "*.pth")


class HubPushError(RuntimeError):
    """A push to the Hub failed; the message says at which step, what happened to local files, and what to do next."""


@dataclass
class _Target:
    repo_id: str
    token: str | bool | None
    private: bool
    commit_message: str
    local_note: str
    retry: str


def _folder_target(folder: Path, repo_id: str, token: Any, private: bool, commit_message: str) -> _Target:
    return _Target(repo_id, token, private, commit_message, f"The local save at {folder} is intact.",
                   f"`hywia push --model {folder} --repo-id {repo_id}`")


def _push_error(target: _Target, stage: str, error: Exception) -> HubPushError:
    status = getattr(getattr(error, "response", None), "status_code", None)
    detail = (str(error).strip().splitlines() or [""])[0]
    if status in (401, 403):
        hint = ("Check the token: log in with `hf auth login`, set HF_TOKEN, or pass a write token (`token=` / "
                "`--token`).")
    elif constants.HF_HUB_OFFLINE:
        hint = "HF_HUB_OFFLINE is set: unset it to push."
    else:
        hint = "A Hub commit applies all of its files or none, so the repo holds the previous or the new version."
    return HubPushError(
        f"Pushing to the Hub repo {target.repo_id!r} failed while trying to {stage} ({type(error).__name__}: "
        f"{detail}). {target.local_note} {hint} Retry with {target.retry}."
    )


def _recipe_dict(recipe: HyWIAConfig | dict | None, model: Any = None) -> dict | None:
    if isinstance(recipe, HyWIAConfig):
        return recipe.to_recipe()
    if recipe is None and model is not None:
        recipe = (getattr(model.config, "hywia", None) or {}).get("recipe")
    if recipe is not None and not isinstance(recipe, dict):
        raise ValueError(f"`recipe` must be a HyWIAConfig or a dict, got {type(recipe).__name__}.")
    return recipe


def _folder_files(folder: Path) -> dict[str, Path]:
    """Files to upload, by path in the repo (hidden files and folders skipped)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            files[relative.as_posix()] = path
    return files


def _check_pruned_folder(folder: Path, facts: PruningFacts) -> None:
    if facts.original_architecture and facts.recipe is None and facts.results is None:
        raise ValueError(
            f"{folder} does not hold a model saved by optimum-hywia: its config.json has no `layer_widths` and there "
            f"is no {CONFIG_NAME}. Prune it with HyWIAPruner or `hywia prune` first."
        )


def _validate(card: Any, target: _Target) -> None:
    try:
        card.validate()
    except ValueError as error:
        raise ValueError(f"The Hub rejected the model card metadata for {target.repo_id!r}: {error}") from error
    except Exception as error:
        raise _push_error(target, "validate the model card", error) from error


def _stale_weight_files(api: HfApi, target: _Target, new_files: set[str]) -> list[str]:
    try:
        existing = api.list_repo_files(target.repo_id)
    except Exception as error:
        raise _push_error(target, "list the files already in the repo", error) from error
    return [f for f in existing if f not in new_files and any(fnmatch(f, pattern) for pattern in WEIGHT_PATTERNS)]


def _commit(target: _Target, files: dict[str, Path], whole_model: bool = True) -> Any:
    """One commit adding `files`. For a whole model, the repo is created if needed and stale weight files deleted;
    otherwise (a card added to a pushed model) the repo must exist."""
    api = HfApi(token=target.token)
    operations: list[Any] = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                             for name, path in files.items()]
    if whole_model:
        try:
            api.create_repo(target.repo_id, private=target.private, exist_ok=True)
        except Exception as error:
            raise _push_error(target, "create or access the repo", error) from error
        stale = _stale_weight_files(api, target, set(files))
        operations += [CommitOperationDelete(path_in_repo=name) for name in stale]
    try:
        return api.create_commit(target.repo_id, operations=operations, commit_message=target.commit_message)
    except Exception as error:
        raise _push_error(target, f"upload {len(files)} files in one commit", error) from error


def _folder_facts(folder: Path, recipe: dict | None, card_options: dict[str, Any]) -> PruningFacts:
    """Facts of a saved folder; an in-memory model's own config (`card_options["config"]`) is richer when the save
    dropped its `hywia` block (saved as the original architecture)."""
    saved = PruningFacts.from_folder(folder, card_options.get("base_model"))
    facts = saved
    if card_options.get("config") is not None:  # how it was saved still comes from the folder
        facts = PruningFacts.from_config(card_options["config"], saved.recipe, saved.results, saved.base_model_source)
        facts.original_architecture, facts.remote_code_file = saved.original_architecture, saved.remote_code_file
    facts.recipe = recipe or facts.recipe
    return facts


def _push_folder(folder: Path, target: _Target, recipe: dict | None, card_options: dict[str, Any]) -> Any:
    facts = _folder_facts(folder, recipe, card_options)
    _check_pruned_folder(folder, facts)
    entries = load_eval_results(facts.results) + load_eval_results(card_options.get("eval_results"))
    files = _folder_files(folder)
    with tempfile.TemporaryDirectory(prefix="hywia-card-") as card_dir:
        card = write_model_card(card_dir, facts, target.repo_id, entries, card_options.get("license"))
        _validate(card, target)
        if recipe is not None:
            (Path(card_dir) / CONFIG_NAME).write_text(recipe_json(recipe))
        files.update(_folder_files(Path(card_dir)))
        return _commit(target, files)


def push_pruned_model(
    model_or_folder: Any,
    repo_id: str,
    *,
    tokenizer: Any = None,
    recipe: HyWIAConfig | dict | None = None,
    eval_results: EvalResultsInput = None,
    base_model: str | None = None,
    token: str | bool | None = None,
    private: bool = False,
    license: str | None = None,
    commit_message: str = "Upload HyWIA-pruned model",
    save_directory: str | os.PathLike | None = None,
    as_original_architecture: bool = False,
) -> Any:
    """Push a pruned model (in memory, or a folder saved by optimum-hywia) to `repo_id` in one commit.

    Uploaded: safetensors weights, `config.json` (per-layer widths, `auto_map`), `modeling_hywia_<family>.py` and
    `modeling_hywia_base.py`, `generation_config.json`, the tokenizer, `hywia_config.json` (the recipe: `recipe`,
    else the folder's), any `hywia_results.json`, and a model card (`README.md` + `hywia_layer_widths.png`). An
    in-memory model is first saved atomically to `save_directory` (kept, so a failed push can be retried from it) or
    to a temporary folder.
    Returns the `CommitInfo`; raises `HubPushError` when the Hub step fails (local files are left as they were).

    Example:
        >>> from optimum_hywia.hub import push_pruned_model
        >>> push_pruned_model(model, "me/smollm2-hywia-20", tokenizer=tokenizer, recipe=pruner.config)  # doctest: +SKIP
        >>> push_pruned_model("smollm2-hywia-20", "me/smollm2-hywia-20")  # a saved folder  # doctest: +SKIP
    """
    card_options = {"eval_results": eval_results, "base_model": base_model, "license": license}
    if isinstance(model_or_folder, (str, os.PathLike)):
        if tokenizer is not None or save_directory is not None or as_original_architecture:
            raise ValueError("`tokenizer`, `save_directory` and `as_original_architecture` apply to an in-memory "
                             f"model; the folder {str(model_or_folder)!r} is uploaded as it was saved.")
        folder = Path(model_or_folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"No folder {str(folder)!r} to push.")
        return _push_folder(folder, _folder_target(folder, repo_id, token, private, commit_message),
                            _recipe_dict(recipe), card_options)
    model = model_or_folder
    if not is_pruned_model(model):
        raise ValueError(f"Expected a model pruned by optimum-hywia (a HyWIA*ForCausalLM), got `{type(model).__name__}`"
                         "; prune it with HyWIAPruner first, or pass the folder of a saved pruned model.")
    recipe_dict = _recipe_dict(recipe, model)
    if recipe_dict is None:
        warnings.warn(f"No recipe given: {CONFIG_NAME} is not uploaded. Pass `recipe=pruner.config`.", stacklevel=2)
    extra = {CONFIG_NAME: recipe_json(recipe_dict)} if recipe_dict else None
    card_options["config"] = model.config.to_dict()
    if save_directory is not None:
        folder = save_pruned_model(model, save_directory, tokenizer, as_original_architecture, extra)
        return _push_folder(folder, _folder_target(folder, repo_id, token, private, commit_message), None, card_options)
    with tempfile.TemporaryDirectory(prefix="hywia-push-") as tmp:
        folder = save_pruned_model(model, Path(tmp) / "model", tokenizer, as_original_architecture, extra)
        target = _Target(repo_id, token, private, commit_message,
                         "Nothing was saved locally; the in-memory model is unchanged.",
                         "push_pruned_model(...) (pass `save_directory=` to keep a local copy to retry from)")
        return _push_folder(folder, target, None, card_options)


def push_model_card(
    model_or_folder: Any,
    repo_id: str,
    *,
    recipe: HyWIAConfig | dict | None = None,
    eval_results: EvalResultsInput = None,
    base_model: str | None = None,
    token: str | bool | None = None,
    license: str | None = None,
    commit_message: str = "Add HyWIA model card",
) -> Any:
    """Add the model card (`README.md` + widths plot) and the recipe, in one commit, to a repo that already holds the
    pruned model — pushed by `trainer.push_to_hub()` or `model.push_to_hub(repo_id)`, which upload the model but
    write a generic card and no `hywia_config.json`. Weights are not touched.

    Example:
        >>> trainer.push_to_hub()  # doctest: +SKIP
        >>> push_model_card(trainer.model, trainer.hub_model_id, recipe=pruner.config,
        ...                 token=trainer.args.hub_token)  # doctest: +SKIP
    """
    if isinstance(model_or_folder, (str, os.PathLike)):
        facts = PruningFacts.from_folder(model_or_folder, base_model)
        facts.recipe = _recipe_dict(recipe) or facts.recipe
        _check_pruned_folder(Path(model_or_folder), facts)
    elif is_pruned_model(model_or_folder):
        config = model_or_folder.config.to_dict()
        facts = PruningFacts.from_config(config, _recipe_dict(recipe, model_or_folder), None, base_model)
    else:
        raise ValueError(
            f"Expected a model pruned by optimum-hywia or its folder, got `{type(model_or_folder).__name__}`."
        )
    entries = load_eval_results(facts.results) + load_eval_results(eval_results)
    target = _Target(repo_id, token, False, commit_message, "The model already in the repo was left as it was.",
                     "push_model_card(...)")
    with tempfile.TemporaryDirectory(prefix="hywia-card-") as card_dir:
        card = write_model_card(card_dir, facts, repo_id, entries, license)
        _validate(card, target)
        if facts.recipe is not None:
            (Path(card_dir) / CONFIG_NAME).write_text(recipe_json(facts.recipe))
        return _commit(target, _folder_files(Path(card_dir)), whole_model=False)
