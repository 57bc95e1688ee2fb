"""What a pruned model's own `save_pretrained` and `push_to_hub` add when optimum-hywia is installed: the model card
(`README.md` + widths plot) and the recipe (`hywia_config.json`) beside the weights, uploaded with them in one commit.

The pruned-model classes (`modeling_hywia_<family>.py`) expose one extension point,
`PrunedModelHubMixin.hub_extension` (in `modeling_hywia_base.py`); this module fills it on import. The classes
themselves stay self-contained, so the files copied beside the weights for `trust_remote_code=True` still need only
torch and transformers (and save as transformers does there).

Example:
    >>> pruned = HyWIAPruner(HyWIAConfig(pruning_ratio=0.2)).prune(model, tokenizer=tokenizer)  # doctest: +SKIP
    >>> pruned.save_pretrained("smollm2-hywia-20")  # weights, config, README.md, hywia_config.json  # doctest: +SKIP
    >>> pruned.push_to_hub("me/smollm2-hywia-20")  # the same files, one commit  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from huggingface_hub import HfApi, ModelCard

from ..configuration import CONFIG_NAME
from ..modeling.modeling_hywia_base import PrunedModelHubMixin
from ..version import __version__
from .card import card_tags, write_model_card
from .eval_results import load_eval_results
from .facts import RESULTS_NAME, PruningFacts
from .push import WEIGHT_PATTERNS

DEFAULT_COMMIT_MESSAGE = "Upload HyWIA-pruned model"


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def model_recipe(model: Any) -> dict | None:
    """The recipe recorded in a pruned model's config (`hywia.recipe`), as `hywia_config.json` holds it."""
    hywia = getattr(model.config, "hywia", None) or {}
    if hywia.get("recipe") is None:
        return None
    return {**hywia["recipe"], "optimum_hywia_version": hywia.get("optimum_hywia_version", __version__)}


def write_pruning_files(model: Any, folder: str | os.PathLike, repo_id: str | None = None,
                        extra_tags: Any = ()) -> ModelCard:
    """Write the model card (`README.md`, widths plot) of the pruned `model` saved in `folder`, and the recipe its
    config records (`hywia_config.json`; a model without one keeps the folder's); tag the model with the card's tags
    (`model_tags`, which `Trainer.push_to_hub` adds to its own card). Results `hywia prune` left in the folder become
    the evaluation table.

    Example:
        >>> card = write_pruning_files(model, "pruned", repo_id="me/pruned")  # doctest: +SKIP
    """
    folder = Path(folder)
    recipe = model_recipe(model)
    if recipe is not None:
        (folder / CONFIG_NAME).write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
    else:
        recipe = _read_json(folder / CONFIG_NAME)
    facts = PruningFacts.from_config(model.config.to_dict(), recipe, _read_json(folder / RESULTS_NAME))
    model.add_model_tags(card_tags(facts))
    tags = [*model.model_tags, *(extra_tags or ())]
    return write_model_card(folder, facts, repo_id or folder.name, load_eval_results(facts.results), extra_tags=tags)


def _upload(folder: str, repo_id: str, token: Any, commit_message: str | None, commit_description: str | None,
            revision: str | None, create_pr: bool) -> Any:
    """One commit with every file of `folder`; weight files of an older save that this one lacks are deleted in it."""
    api = HfApi(token=token)
    if revision is not None and not create_pr:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    return api.upload_folder(
        repo_id=repo_id, folder_path=folder, commit_message=commit_message or DEFAULT_COMMIT_MESSAGE,
        commit_description=commit_description, revision=revision, create_pr=create_pr,
        delete_patterns=list(WEIGHT_PATTERNS),
    )


class PruningCardExtension:
    """The `hub_extension` of the pruned-model classes: transformers' saving plus the pruning card and recipe."""

    def save_pretrained(self, model: Any, save: Callable, save_directory: str | os.PathLike, *args: Any,
                        push_to_hub: bool = False, **kwargs: Any) -> None:
        if not push_to_hub:
            save(save_directory, *args, **kwargs)
            if kwargs.get("is_main_process", True):
                write_pruning_files(model, save_directory)
            return None
        # transformers would replace the card with its generic one before uploading: upload the folder ourselves
        repo_id = kwargs.pop("repo_id", None) or Path(save_directory).name
        options = {key: kwargs.pop(key, None) for key in ("commit_message", "commit_description", "private")}
        create_pr, token = kwargs.pop("create_pr", False), kwargs.get("token")
        repo_id = HfApi(token=token).create_repo(repo_id, private=options["private"], exist_ok=True).repo_id
        save(save_directory, *args, **kwargs)
        write_pruning_files(model, save_directory, repo_id)
        return _upload(str(save_directory), repo_id, token, options["commit_message"], options["commit_description"],
                       None, create_pr)

    def push_to_hub(self, model: Any, save: Callable, repo_id: str, *, commit_message: str | None = None,
                    commit_description: str | None = None, private: bool | None = None, token: Any = None,
                    revision: str | None = None, create_pr: bool = False, max_shard_size: int | str | None = "50GB",
                    tags: list[str] | None = None) -> Any:
        """`PreTrainedModel.push_to_hub`'s arguments and result, with the pruning card instead of the generic one."""
        repo_id = HfApi(token=token).create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory(prefix="hywia-push-") as folder:
            save(folder, max_shard_size=max_shard_size)
            write_pruning_files(model, folder, repo_id, [tags] if isinstance(tags, str) else tags)
            return _upload(folder, repo_id, token, commit_message, commit_description, revision, create_pr)


PrunedModelHubMixin.hub_extension = PruningCardExtension()
