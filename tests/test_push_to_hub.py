"""The mission flow as a user writes it, against the loopback Hub: `from_pretrained` a tiny Llama → prune (a Trainer
with `HyWIACallback`, or `HyWIAPruner`) → the transformers push (`trainer.push_to_hub()`, `model.push_to_hub(repo)`)
→ anyone loads it by name in a fresh process, with optimum-hywia or with `trust_remote_code=True` without it."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments, default_data_collator

from optimum_hywia import HyWIACallback, HyWIAConfig, HyWIAPruner, HyWIATrainer
from optimum_hywia.hub import CARD_TAGS, PLOT_NAME

from hub import hub_server
from hub_pull import assert_pulled_logits_equal, pointed_at
from tiny_models import VOCAB, save_tiny_checkpoint

BASE_REPO = "user/tiny-llama"
INPUT = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(11))
CONFIG = dict(pruning_ratio=0.5, allocation="global", skip_first_layers=1, skip_last_layers=0)
CARD_FILES = {"README.md", PLOT_NAME, "hywia_config.json", "model.safetensors", "config.json",
              "modeling_hywia_llama.py", "modeling_hywia_base.py"}


def logits(model) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(INPUT).logits


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The loopback Hub holding the base model: a tiny Llama saved to disk, then published as `user/tiny-llama`."""
    with hub_server() as server:
        folder = tmp_path_factory.mktemp("base") / "tiny-llama"
        save_tiny_checkpoint(folder)
        with server.patch_endpoint():
            HfApi(token=server.token).create_repo(BASE_REPO)
            HfApi(token=server.token).upload_folder(repo_id=BASE_REPO, folder_path=str(folder))
        yield server
        assert not server.server_errors and not server.unhandled, (server.server_errors, server.unhandled)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf_cache"))


@pytest.fixture(scope="module")
def online(hub, cache):
    """A context manager pointing this process's huggingface_hub at `hub` (downloads go to `cache`)."""
    return lambda: pointed_at(hub, cache)


@pytest.fixture(scope="module")
def trainer_repo(hub, online, cache, tmp_path_factory):
    """from_pretrained → HyWIATrainer with HyWIACallback (default schedule) → train → trainer.push_to_hub()."""
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, VOCAB, (16, 12)).unbind()]
    with online():
        model = AutoModelForCausalLM.from_pretrained(BASE_REPO, cache_dir=cache)
        args = TrainingArguments(
            str(tmp_path_factory.mktemp("trainer")), max_steps=10, per_device_train_batch_size=4,
            learning_rate=1e-3, report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True,
            push_to_hub=True, hub_model_id="user/mission-trainer", hub_token=hub.token,
        )
        callback = HyWIACallback(HyWIAConfig(importance="element1", **CONFIG))
        tokenizer = AutoTokenizer.from_pretrained(BASE_REPO, cache_dir=cache)
        trainer = HyWIATrainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                               processing_class=tokenizer, callbacks=[callback])
        trainer.train()
        trainer.push_to_hub()
    return "user/mission-trainer", logits(trainer.model), trainer.model, callback


@pytest.fixture(scope="module")
def model_repo(hub, online, cache):
    """from_pretrained → HyWIAPruner.prune → model.push_to_hub(repo)."""
    calibration = torch.randint(0, VOCAB, (4, 16), generator=torch.Generator().manual_seed(3))
    with online():
        model = AutoModelForCausalLM.from_pretrained(BASE_REPO, cache_dir=cache)
        pruned = HyWIAPruner(HyWIAConfig(importance="element1", **CONFIG)).prune(model, calibration_data=calibration)
        pruned.push_to_hub("user/mission-model", token=hub.token)
    return "user/mission-model", logits(pruned), pruned


def loaded_card(hub, repo_id: str, folder) -> ModelCard:
    (folder / "README.md").write_bytes(hub.repos[repo_id].files()["README.md"])
    return ModelCard.load(folder / "README.md")


def assert_widths_in_card(card: ModelCard, model) -> None:
    for layer in model.config.hywia["pruned_layers"]:
        w = model.config.layer_widths[layer]
        assert f"| {layer} | yes | 6 → {w['num_attention_heads']} | 2 → {w['num_key_value_heads']} | " \
               f"40 → {w['intermediate_size']} |" in card.text


@pytest.mark.parametrize("block_package", [False, True], ids=["installed", "remote_code"])
def test_both_routes_load_by_name_with_identical_logits(hub, trainer_repo, model_repo, block_package, tmp_path):
    expected = {repo: reference for repo, reference, *_ in (trainer_repo, model_repo)}
    assert_pulled_logits_equal(hub, expected, INPUT, block_package, tmp_path)


def test_trainer_push_is_one_commit_with_the_training_summary_and_the_pruning_card(hub, trainer_repo, tmp_path):
    repo_id, _, model, callback = trainer_repo
    repo = hub.repos[repo_id]
    assert len(repo.history()) == 2  # the Hub's initial commit, then trainer.push_to_hub()
    assert CARD_FILES <= set(repo.files()) and callback.history[0]["step"] == 1  # default: after 10% of 10 steps
    card = loaded_card(hub, repo_id, tmp_path)
    assert set(CARD_TAGS) | {"llama", "generated_from_trainer"} <= set(card.data.tags)
    assert card.data.base_model == BASE_REPO and card.data.base_model_relation == "finetune"
    assert_widths_in_card(card, model)
    assert "## Recipe" in card.text and "## Training procedure" in card.text
    assert "### Training hyperparameters" in card.text and "- training_steps: 10" in card.text
    assert card.text.count("\n# ") + card.text.startswith("# ") <= 1, "one title"


def test_model_push_to_hub_is_one_commit_with_the_pruning_card(hub, model_repo, tmp_path):
    repo_id, _, model = model_repo
    repo = hub.repos[repo_id]
    assert len(repo.history()) == 2 and CARD_FILES <= set(repo.files())
    card = loaded_card(hub, repo_id, tmp_path)
    assert set(CARD_TAGS) | {"llama"} <= set(card.data.tags)
    assert card.data.base_model == BASE_REPO and card.data.base_model_relation == "finetune"
    assert_widths_in_card(card, model)
    assert f'from_pretrained("{repo_id}", trust_remote_code=True)' in card.text and "## Recipe" in card.text


def test_save_pretrained_writes_the_card_and_recipe_and_a_repush_replaces_the_weights(hub, online, model_repo,
                                                                                      tmp_path):
    _, reference, model = model_repo
    model.save_pretrained(tmp_path / "saved")
    assert CARD_FILES <= {p.name for p in (tmp_path / "saved").iterdir()}
    assert ModelCard.load(tmp_path / "saved" / "README.md").data.base_model == BASE_REPO
    with online():
        HfApi(token=hub.token).upload_file(path_or_fileobj=b"old", path_in_repo="model-00001-of-00002.safetensors",
                                           repo_id="user/mission-model")
        model.push_to_hub("user/mission-model", token=hub.token, commit_message="again")
        files = hub.repos["user/mission-model"].files()
    assert "model-00001-of-00002.safetensors" not in files and CARD_FILES <= set(files)
    assert torch.equal(logits(AutoModelForCausalLM.from_pretrained(tmp_path / "saved")), reference)


def test_save_pretrained_with_push_to_hub_keeps_the_pruning_card(hub, online, model_repo, tmp_path):
    _, _, model = model_repo
    with online():
        model.save_pretrained(tmp_path / "mission-save", push_to_hub=True, repo_id="user/mission-save",
                              token=hub.token)
    files = hub.repos["user/mission-save"].files()
    assert CARD_FILES <= set(files) and files["README.md"] == (tmp_path / "mission-save" / "README.md").read_bytes()
    assert ModelCard(files["README.md"].decode()).data.base_model == BASE_REPO
