"""Sharing pruned models on the Hugging Face Hub: a model card with the pruning facts, and one-commit pushes.

Importing this package makes a pruned model's `save_pretrained` / `push_to_hub` write and push the model card and the
recipe (`saving.py`); `HyWIATrainer` merges that card into the Trainer's (`trainer.py`).

Example:
    >>> from optimum_hywia.hub import push_pruned_model
    >>> push_pruned_model(model, "me/smollm2-hywia-20", tokenizer=tokenizer, recipe=pruner.config)  # doctest: +SKIP
"""

from .card import CARD_TAGS, build_model_card, write_model_card
from .eval_results import EvalEntry, load_eval_results
from .facts import PruningFacts
from .plot import PLOT_NAME, plot_layer_widths
from .push import HubPushError, push_model_card, push_pruned_model
from .saving import write_pruning_files
from .trainer import HyWIATrainer, merge_training_card

__all__ = [
    "CARD_TAGS",
    "EvalEntry",
    "HubPushError",
    "HyWIATrainer",
    "PLOT_NAME",
    "PruningFacts",
    "build_model_card",
    "load_eval_results",
    "merge_training_card",
    "plot_layer_widths",
    "push_model_card",
    "push_pruned_model",
    "write_model_card",
    "write_pruning_files",
]
