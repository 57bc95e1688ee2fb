"""`HyWIATrainer`: a `Trainer` whose model card carries both its training summary and the pruning card.

`Trainer.push_to_hub()` saves the model (a pruned model's `save_pretrained` writes the pruning card and the recipe),
then `Trainer.create_model_card()` writes the Trainer's own `README.md` over that card (it keeps only the old tags),
then uploads the folder. No callback event runs between the card and the upload, and callbacks never see the Trainer,
so a plain `Trainer` pushes the recipe, the widths plot and our tags, but its card lacks the widths and the recipe.
`create_model_card` is the Trainer's public method for its card (TRL's trainers override it the same way): this
subclass merges the pruning card into the Trainer's, so `trainer.push_to_hub()` uploads both in one commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard
from transformers import Trainer

from ..training.callback import HyWIACallback
from ..training.distillation import DistillationConfig, batch_targets, distillation_loss, recipe
from ..modeling import is_pruned_model
from ..peft_models import is_peft_model
from .saving import write_pruning_files

TRAINER_CARD_KEYS = ("license", "language", "datasets", "metrics")


def _lead_and_sections(text: str) -> tuple[str, str]:
    """Split a card body at its first `## ` heading: the title and opening paragraphs, then the sections."""
    lead, found, sections = text.strip().partition("\n## ")
    return lead.strip(), f"## {sections.strip()}" if found else ""


def _trainer_body(text: str) -> tuple[str, str, str]:
    """The Trainer card's leading HTML comment, its opening paragraphs (title dropped) and its sections."""
    text, comment = text.strip(), ""
    if text.startswith("<!--"):
        comment, _, text = text.partition("-->")
        comment += "-->"
    lead, sections = _lead_and_sections(text)
    lines = lead.splitlines()
    if lines and lines[0].startswith("# "):
        lead = "\n".join(lines[1:]).strip()
    return comment.strip(), lead, sections


def merge_training_card(pruning: ModelCard, training: ModelCard) -> ModelCard:
    """One card from the pruning card and a Trainer's card: both sets of tags, the Trainer's `base_model` when it
    names one (the model it fine-tuned), both evaluation results; our title and sections first, then the Trainer's.

    Example:
        >>> card = merge_training_card(ModelCard.load("pruning.md"), ModelCard.load("README.md"))  # doctest: +SKIP
    """
    data, trained = pruning.data, training.data
    data.tags = list(dict.fromkeys([*(data.tags or []), *(trained.tags or [])]))
    if trained.base_model:
        data.base_model, data.base_model_relation = trained.base_model, "finetune"
    for key in TRAINER_CARD_KEYS:
        if data.get(key) is None and trained.get(key) is not None:
            setattr(data, key, trained.get(key))
    results = [*(data.eval_results or []), *(trained.eval_results or [])]
    data.eval_results = results or None
    data.model_name = (data.model_name or trained.model_name) if results else None  # names the model-index only
    comment, trainer_lead, trainer_sections = _trainer_body(training.text)
    lead, sections = _lead_and_sections(pruning.text)
    body = "\n\n".join(part for part in (comment, lead, trainer_lead, sections, trainer_sections) if part)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


class HyWIATrainer(Trainer):
    """A `transformers.Trainer` whose model card also carries the pruning card of a pruned model, and that distils
    from a teacher when given one.

    Use it as the Trainer it is; with `HyWIACallback`, `trainer.push_to_hub()` then pushes the weights, the recipe,
    the widths plot and one card holding the Trainer's training summary and the pruning metadata (tags, base model,
    widths, blend, recipe), in one commit. For a model that is not pruned, the card is the Trainer's own.

    With `teacher_model` (the dense model, frozen: `optimum_hywia.training.distillation.copy_teacher(model)` before
    pruning) or batches that carry precomputed teacher logits (`WithTeacherTargets`), the loss is
    `T² · KL(teacher ‖ student) + lm_weight · LM loss` (`distillation`, a `DistillationConfig`); the callback prunes
    the trained model only, never the teacher, and the run distils from the step the callback has pruned (before,
    the language-model loss gives the callback its importance statistics). The running KL is logged as `kl`.

    Example:
        >>> from optimum_hywia import HyWIACallback, HyWIAConfig, HyWIATrainer
        >>> trainer = HyWIATrainer(model, TrainingArguments("out", max_steps=100, push_to_hub=True,
        ...                        hub_model_id="me/pruned"), train_dataset=data,
        ...                        callbacks=[HyWIACallback(HyWIAConfig(pruning_ratio=0.2))])  # doctest: +SKIP
        >>> trainer.train(); trainer.push_to_hub()  # doctest: +SKIP
    """

    def __init__(self, *args: Any, teacher_model: Any = None, distillation: DistillationConfig | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teacher_model is not None and any(p.requires_grad for p in teacher_model.parameters()):
            raise ValueError("`teacher_model` must be frozen: pass "
                             "optimum_hywia.training.distillation.copy_teacher(model) or frozen_teacher(model), taken "
                             "before pruning.")
        self.teacher_model = teacher_model
        self.distillation = distillation or (DistillationConfig() if teacher_model is not None else None)
        self._kl_sum, self._kl_count = 0.0, 0

    def _distilling(self) -> bool:
        """Distil once every HyWIACallback of the run has pruned: before that, the training gradients are the
        callback's importance statistics, and they come from the language-model loss."""
        callbacks = self.callback_handler.callbacks
        return self.distillation is not None and all(c.has_pruned for c in callbacks if isinstance(c, HyWIACallback))

    def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        if not self._distilling():
            for key in ("teacher_values", "teacher_indices"):
                inputs.pop(key, None)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        targets = batch_targets(inputs, self.teacher_model, self.distillation)
        outputs = model(**inputs)
        kl = distillation_loss(outputs.logits, targets, self.distillation, inputs.get("attention_mask"))
        self._kl_sum, self._kl_count = self._kl_sum + float(kl.detach()), self._kl_count + 1
        loss = kl if not self.distillation.lm_weight else kl + self.distillation.lm_weight * outputs.loss
        return (loss, outputs) if return_outputs else loss

    def train(self, *args: Any, **kwargs: Any) -> Any:
        output = super().train(*args, **kwargs)
        self._record_distillation()
        return output

    def _record_distillation(self) -> None:
        """Write the distillation recipe into a pruned model's `hywia` block (so its config and card carry it)."""
        model = self.accelerator.unwrap_model(self.model)
        hywia = getattr(getattr(model, "config", None), "hywia", None)
        if self.distillation is None or hywia is None or "recovery" in hywia:
            return
        teacher = getattr(getattr(self.teacher_model, "config", None), "_name_or_path", None)
        hywia["recovery"] = {"method": "distill", "lora": is_peft_model(model), "max_steps": self.state.global_step,
                             "batch_size": self.args.train_batch_size * self.args.gradient_accumulation_steps,
                             "learning_rate": self.args.learning_rate, "from": "the pruning step on",
                             **recipe(self.distillation, teacher or None)}

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self._kl_count and "loss" in logs:
            logs["kl"] = round(self._kl_sum / self._kl_count, 4)
            self._kl_sum, self._kl_count = 0.0, 0
        super().log(logs, *args, **kwargs)

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        super().create_model_card(*args, **kwargs)
        model = self.accelerator.unwrap_model(self.model)
        if not self.is_world_process_zero() or not is_pruned_model(model):
            return
        folder = Path(self.args.output_dir)
        training = ModelCard.load(folder / "README.md")
        repo_id = self.hub_model_id or self.args.hub_model_id or folder.name
        pruning = write_pruning_files(model, folder, repo_id, training.data.tags)
        merge_training_card(pruning, training).save(folder / "README.md")
