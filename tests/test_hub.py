"""Pushing pruned models to a local Hub-protocol server by every route, and loading them back by name.

Routes: `push_pruned_model` (Python), `model.push_to_hub`, a plain Trainer's `push_to_hub` + `push_model_card`,
`hywia prune --push-to-hub` and `hywia push` (the last in a subprocess whose only Hub settings are HF_ENDPOINT and
HF_TOKEN). Pushes from this process point huggingface_hub at the server with `LocalHub.patch_endpoint`; every pull
runs in a fresh subprocess (with optimum-hywia, and without it through `trust_remote_code=True`) and must give the
very logits of the model before the push.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from huggingface_hub import ModelCard, constants
from transformers import AutoModelForCausalLM

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.commands.cli import main
from optimum_hywia.hub import CARD_TAGS, PLOT_NAME, HubPushError, load_eval_results, push_model_card, push_pruned_model

from hub import hub_server
from hub_pull import assert_pulled_logits_equal, pointed_at
from tiny_models import VOCAB, save_tiny_checkpoint, tiny_model, tiny_tokenizer

INPUT = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(5))
EVAL = [{"task": "wikitext", "metric": "perplexity", "value": 41.25, "dataset": "wikitext", "baseline": 30.5}]
# what `hywia eval --output` writes
EVAL_FILE = {"format_version": 1, "settings": {"model": "out"}, "results": [{
    "task": "austen_lastword", "metric": "acc", "value": 0.375, "stderr": 0.0625, "dataset": "builtin:austen", "n": 64,
}]}
MODEL_FILES = {"model.safetensors", "config.json", "modeling_hywia_llama.py", "modeling_hywia_base.py",
               "generation_config.json", "tokenizer.json", "tokenizer_config.json"}
CARD_FILES = {"README.md", PLOT_NAME, "hywia_config.json"}
PRUNE_ARGS = ["--pruning-ratio", "0.5", "--skip-first-layers", "1", "--skip-last-layers", "0",
              "--eval-windows", "2", "--eval-data", "builtin:prideprejudice"]


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(INPUT).logits


@pytest.fixture(scope="module")
def hub():
    with hub_server() as server:
        yield server
        assert not server.server_errors and not server.unhandled, (server.server_errors, server.unhandled)


@pytest.fixture(scope="module")
def online(hub, tmp_path_factory):
    """A context manager pointing this process's huggingface_hub at `hub`, with a throwaway download cache."""
    cache = tmp_path_factory.mktemp("hf_cache")
    return lambda: pointed_at(hub, cache)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A tiny GQA Llama pruned to non-uniform widths, its pruner, tokenizer, a local save and its logits."""
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation="global", skip_first_layers=1,
                                        skip_last_layers=0))
    model = pruner.prune(tiny_model("llama_gqa", seed=4))
    assert len({json.dumps(w, sort_keys=True) for w in model.config.layer_widths}) > 1, "need non-uniform widths"
    folder = tmp_path_factory.mktemp("saved") / "pruned"
    pruner.save_pretrained(model, folder, tokenizer=tiny_tokenizer())
    return {"model": model, "pruner": pruner, "folder": folder, "logits": logits(model)}


@pytest.fixture(scope="module")
def helper_repo(online, pruned):
    with online() as hub:
        push_pruned_model(pruned["model"], "user/tiny-helper", tokenizer=tiny_tokenizer(),
                          recipe=pruned["pruner"].config, eval_results=EVAL, base_model="user/tiny-base",
                          token=hub.token)
    return "user/tiny-helper", pruned["logits"]


@pytest.fixture(scope="module")
def plain_repo(online, pruned):
    with online() as hub:
        pruned["model"].push_to_hub("user/tiny-plain", token=hub.token)
    return "user/tiny-plain", pruned["logits"]


@pytest.fixture(scope="module")
def trainer_repo(online, pruned, tmp_path_factory):
    """A Trainer fine-tunes a copy of the pruned model for 2 steps and pushes it; then the card is added."""
    from transformers import Trainer, TrainingArguments, default_data_collator

    model = copy.deepcopy(pruned["model"]).train()
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, VOCAB, (4, 12)).unbind()]
    with online() as hub:
        args = TrainingArguments(
            output_dir=str(tmp_path_factory.mktemp("trainer")), max_steps=2, per_device_train_batch_size=2,
            learning_rate=1e-2, report_to="none", save_strategy="no", use_cpu=True, push_to_hub=True,
            hub_model_id="user/tiny-trainer", hub_token=hub.token,
        )
        trainer = Trainer(model=model, args=args, train_dataset=data, processing_class=tiny_tokenizer(),
                          data_collator=default_data_collator)
        trainer.train()
        trainer.push_to_hub()
        files_after_trainer = dict(hub.repos["user/tiny-trainer"].files())
        push_model_card(trainer.model, trainer.hub_model_id, recipe=pruned["pruner"].config, token=hub.token)
    model.eval()
    trained = logits(model)
    assert not torch.equal(trained, pruned["logits"]), "training should have changed the model"
    return "user/tiny-trainer", trained, files_after_trainer


@pytest.fixture(scope="module")
def cli_prune_repo(online, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_prune")
    save_tiny_checkpoint(folder / "tiny")
    with online() as hub:
        main(["prune", "--model", str(folder / "tiny"), "--output", str(folder / "out"), *PRUNE_ARGS,
              "--push-to-hub", "user/tiny-cli-prune", "--hub-token", hub.token])
    local = AutoModelForCausalLM.from_pretrained(folder / "out").eval()
    return "user/tiny-cli-prune", logits(local), folder / "out"


@pytest.fixture(scope="module")
def cli_push_repo(hub, pruned, tmp_path_factory):
    """`hywia push` in a subprocess: the token comes from HF_TOKEN, the endpoint from HF_ENDPOINT."""
    eval_file = tmp_path_factory.mktemp("eval") / "eval.json"
    eval_file.write_text(json.dumps(EVAL_FILE))
    argv = ["push", "--model", str(pruned["folder"]), "--repo-id", "user/tiny-cli-push",
            "--eval-results", str(eval_file)]
    code = f"from optimum_hywia.commands.cli import main\nmain({argv!r})"
    hub.run_python(code, hf_home=tmp_path_factory.mktemp("hf_push"), with_token=True)
    return "user/tiny-cli-push", pruned["logits"]


def card_of(hub, repo_id: str) -> ModelCard:
    return ModelCard(hub.repos[repo_id].files()["README.md"].decode())


@pytest.mark.parametrize("block_package", [False, True], ids=["installed", "remote_code"])
def test_every_route_loads_by_name_in_a_fresh_process(
    hub, helper_repo, plain_repo, trainer_repo, cli_prune_repo, cli_push_repo, block_package, tmp_path
):
    expected = {repo: reference for repo, reference, *_ in
                (helper_repo, plain_repo, trainer_repo, cli_prune_repo, cli_push_repo)}
    assert_pulled_logits_equal(hub, expected, INPUT, block_package, tmp_path)


def test_push_pruned_model_uploads_everything_in_one_commit(hub, helper_repo, pruned):
    repo = hub.repos["user/tiny-helper"]
    files = repo.files()
    assert MODEL_FILES | CARD_FILES <= set(files)
    assert len(repo.history()) == 2  # the Hub's initial commit, then one commit with everything
    config = json.loads(files["config.json"])
    assert config["layer_widths"] == pruned["model"].config.layer_widths
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_hywia_llama.HyWIALlamaForCausalLM"
    assert json.loads(files["hywia_config.json"])["pruning_ratio"] == 0.5
    assert files[PLOT_NAME].startswith(b"\x89PNG\r\n\x1a\n")


def test_card_metadata_round_trips_and_body_reports_the_pruning(hub, helper_repo, pruned, tmp_path):
    (tmp_path / "README.md").write_bytes(hub.repos["user/tiny-helper"].files()["README.md"])
    card = ModelCard.load(tmp_path / "README.md")
    data = card.data
    assert data.base_model == "user/tiny-base" and data.base_model_relation == "finetune"
    assert data.library_name == "transformers" and data.pipeline_tag == "text-generation"
    assert set(CARD_TAGS) <= set(data.tags)
    (result,) = data.eval_results
    assert (result.task_name, result.metric_type, result.metric_value) == ("wikitext", "perplexity", 41.25)
    widths, summary = pruned["model"].config.layer_widths, pruned["pruner"].summary
    for layer in pruned["model"].config.hywia["pruned_layers"]:
        w = widths[layer]
        assert f"| {layer} | yes | 6 → {w['num_attention_heads']} | 2 → {w['num_key_value_heads']} | " \
               f"40 → {w['intermediate_size']} |" in card.text
    assert f"{summary.params_before:,} → {summary.params_after:,}" in card.text
    assert f"![Widths kept per layer]({PLOT_NAME})" in card.text
    assert "| wikitext | wikitext | perplexity | 41.25 | 30.5 |" in card.text
    assert 'from_pretrained("user/tiny-helper", trust_remote_code=True)' in card.text


def test_card_passes_the_hubs_validation_which_has_teeth(online, helper_repo):
    with online() as server:
        card = card_of(server, "user/tiny-helper")
        readme_checks = [v for v in server.validations if v["content"] == str(card)]
        assert readme_checks and all(v["errors"] == [] for v in readme_checks)
        card.validate()
        card.data.base_model = 3
        with pytest.raises(ValueError, match="base_model"):
            card.validate()


def test_prune_results_become_model_index_and_unknown_base_model_is_left_out(hub, cli_prune_repo):
    _, _, local = cli_prune_repo
    results = json.loads((local / "hywia_results.json").read_text())
    files = hub.repos["user/tiny-cli-prune"].files()
    assert MODEL_FILES | CARD_FILES | {"hywia_results.json"} <= set(files)
    card = card_of(hub, "user/tiny-cli-prune")
    (result,) = card.data.eval_results
    assert result.metric_value == pytest.approx(results["pruned"]["perplexity"])
    assert result.dataset_name == "builtin:prideprejudice"
    assert card.data.base_model is None and "base_model_relation" not in card.data.to_dict()  # a local path
    assert str(local.parent) not in card.text and "`tiny (a local checkpoint)`" in card.text


def test_plain_trainer_push_carries_recipe_and_tags_then_card_keeps_the_weights(hub, trainer_repo):
    _, _, after_trainer = trainer_repo
    files = hub.repos["user/tiny-trainer"].files()
    assert MODEL_FILES | {"hywia_config.json", PLOT_NAME} <= set(after_trainer)
    trainer_card = ModelCard(after_trainer["README.md"].decode())  # the plain Trainer's own card, with our tags
    assert set(CARD_TAGS) | {"generated_from_trainer"} <= set(trainer_card.data.tags)
    assert files["model.safetensors"] == after_trainer["model.safetensors"]
    assert CARD_FILES <= set(files) and set(CARD_TAGS) <= set(card_of(hub, "user/tiny-trainer").data.tags)


def test_model_push_to_hub_uploads_card_and_recipe_with_the_model_in_one_commit(hub, plain_repo, pruned):
    repo = hub.repos["user/tiny-plain"]
    files = repo.files()
    assert {"model.safetensors", "config.json", "modeling_hywia_llama.py", "modeling_hywia_base.py",
            "generation_config.json"} | CARD_FILES <= set(files)
    assert "tokenizer.json" not in files  # as transformers' model.push_to_hub: the model, not its tokenizer
    assert len(repo.history()) == 2
    assert json.loads(files["hywia_config.json"])["pruning_ratio"] == 0.5
    card = card_of(hub, "user/tiny-plain")
    assert set(CARD_TAGS) <= set(card.data.tags) and "More Information Needed" not in card.text
    widths = pruned["model"].config.layer_widths[1]
    assert f"| 1 | yes | 6 → {widths['num_attention_heads']} |" in card.text
    assert 'from_pretrained("user/tiny-plain", trust_remote_code=True)' in card.text


def test_cli_push_takes_the_results_file_of_hywia_eval(hub, cli_push_repo):
    card = card_of(hub, "user/tiny-cli-push")
    assert [(r.task_name, r.metric_value) for r in card.data.eval_results] == [("austen_lastword", 0.375)]
    assert "| austen_lastword | builtin:austen | acc | 0.375 ± 0.0625 | – | n = 64 |" in card.text
    assert MODEL_FILES | CARD_FILES <= set(hub.repos["user/tiny-cli-push"].files())


def snapshot(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_commit_leaves_local_save_and_repo_untouched_and_cli_retry_succeeds(local_hub, pruned, capsys):
    folder, before = pruned["folder"], snapshot(pruned["folder"])
    argv = ["push", "--model", str(folder), "--repo-id", "user/flaky", "--token", local_hub.token]
    local_hub.fail_next_commit = True
    with local_hub.patch_endpoint():
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        error = capsys.readouterr().err
        assert exit_info.value.code == 1
        assert "'user/flaky' failed while trying to upload" in error and "500" in error
        assert f"local save at {folder} is intact" in error and "hywia push --model" in error
        assert snapshot(folder) == before
        assert list(local_hub.repos["user/flaky"].files()) == [".gitattributes"]
        main(argv)
    assert MODEL_FILES | CARD_FILES <= set(local_hub.repos["user/flaky"].files())
    assert snapshot(folder) == before


def test_failed_push_from_a_model_keeps_save_directory_to_retry_from(local_hub, pruned, tmp_path):
    local_hub.fail_next_commit = True
    save = tmp_path / "save"
    with local_hub.patch_endpoint():
        with pytest.raises(HubPushError, match="intact"):
            push_pruned_model(pruned["model"], "user/flaky-model", tokenizer=tiny_tokenizer(),
                              recipe=pruned["pruner"].config, token=local_hub.token, save_directory=save)
        assert torch.equal(logits(AutoModelForCausalLM.from_pretrained(save)), pruned["logits"])
        push_pruned_model(save, "user/flaky-model", token=local_hub.token)
    assert MODEL_FILES | CARD_FILES <= set(local_hub.repos["user/flaky-model"].files())


def test_push_replaces_stale_weight_shards_and_honours_private(local_hub, pruned):
    from huggingface_hub import CommitOperationAdd, HfApi

    stale = ["model-00001-of-00002.safetensors", "model.safetensors.index.json", "notes.txt"]
    with local_hub.patch_endpoint():
        api = HfApi(token=local_hub.token)
        api.create_repo("user/resharded", private=True)
        api.create_commit("user/resharded", [CommitOperationAdd(name, b"old") for name in stale], commit_message="old")
        push_pruned_model(pruned["folder"], "user/resharded", token=local_hub.token, private=True)
    repo = local_hub.repos["user/resharded"]
    assert repo.private and "notes.txt" in repo.files() and MODEL_FILES <= set(repo.files())
    assert not set(stale[:2]) & set(repo.files())


def test_no_token_is_a_clear_error_and_creates_nothing(local_hub, pruned, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    with local_hub.patch_endpoint(), pytest.raises(HubPushError) as error:
        push_pruned_model(pruned["folder"], "user/secret")
    assert "401" in str(error.value) and "hf auth login" in str(error.value) and "intact" in str(error.value)
    assert local_hub.repos == {}


def test_cli_push_rejects_bad_input_before_any_request(local_hub, tmp_path, capsys):
    save_tiny_checkpoint(tmp_path / "dense")
    with pytest.raises(SystemExit) as exit_info:
        main(["push", "--model", str(tmp_path / "dense"), "--repo-id", "user/dense"])
    assert exit_info.value.code == 2 and "not hold a model saved by optimum-hywia" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["push", "--model", str(tmp_path / "dense"), "--repo-id", "not a repo id"])
    assert "invalid Hub repo id" in capsys.readouterr().err
    assert local_hub.requests == []


@pytest.mark.parametrize("bad,message", [
    ([{"task": "boolq", "metric": "acc", "value": 0.6}], "missing keys \\['dataset'\\]"),
    ([{"task": "boolq", "metric": "acc", "value": "high", "dataset": "boolq"}], "`value` must be a number"),
    ({"accuracy": 1}, "expected `hywia_results.json` content"),
])
def test_eval_results_input_is_checked(bad, message):
    with pytest.raises(ValueError, match=message):
        load_eval_results(bad)


def test_eval_results_accept_prune_results_and_files(tmp_path):
    prune_results = {"eval_data": "builtin:x", "eval_windows": 2, "dense": {"perplexity": 9.0},
                     "pruned": {"perplexity": 12.0}}
    (tmp_path / "r.json").write_text(json.dumps({"results": EVAL}))
    assert [(e.value, e.baseline) for e in load_eval_results(prune_results)] == [(12.0, 9.0)]
    assert load_eval_results(tmp_path / "r.json")[0].task == "wikitext"
    assert load_eval_results({**prune_results, "pruned": {"perplexity": None}}) == []


def test_card_of_a_family_without_kv_heads_and_with_a_learned_blend(tmp_path):
    """A Bloom-shaped config: per-layer `kept_heads` lists, no KV heads, dense MLP width not in the config."""
    from optimum_hywia.hub import PruningFacts, write_model_card

    config = {
        "model_type": "hywia_bloom", "n_head": 6, "n_layer": 2, "hidden_size": 48,
        "auto_map": {"AutoModelForCausalLM": "modeling_hywia.HyWIABloomForCausalLM"},
        "layer_widths": [{"num_attention_heads": 6, "kept_heads": list(range(6)), "intermediate_size": 192},
                         {"num_attention_heads": 2, "kept_heads": [1, 4], "intermediate_size": 90}],
        "hywia": {"importance": "hywia", "pruning_ratio": 0.5, "pruned_layers": [1], "learned_blend": {
            "1.mlp": {"fine": 0.625, "coarse": 0.375}, "1.attention": {"fine": 0.5, "coarse": 0.5}}},
    }
    card = write_model_card(tmp_path, PruningFacts.from_config(config), "user/bloom")
    assert "| layer | pruned | heads | MLP channels |" in card.text and "| 1 | yes | 6 → 2 | 90 |" in card.text
    assert "| 1.mlp | 0.375 | 0.625 |" in card.text and "trust_remote_code=True" in card.text
    assert (tmp_path / PLOT_NAME).read_bytes().startswith(b"\x89PNG")
    assert card.data.base_model is None and "bloom" in card.data.tags
