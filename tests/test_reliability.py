"""Every bad input gets one clear error and nothing a user owns is touched: the cases of docs/reliability.md.

Each row of the table in docs/reliability.md names one case here (`cli:<id>` in `CLI_CASES`, `api:<id>` a
`test_api_<id>` function), and its message column quotes the text the test requires; `test_doc_table_matches_cases`
keeps the two in step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch
from accelerate import cpu_offload
from transformers import GPT2Config

from optimum_hywia import HyWIAConfig, HyWIAPruner, save_pruned_model
from optimum_hywia.commands.cli import main
from optimum_hywia.data import load_calibration_data, load_model_and_tokenizer
from optimum_hywia.errors import (
    CalibrationDataError,
    CheckpointError,
    ConfigError,
    HyWIAError,
    OutputFolderError,
    PlacementError,
    TokenizerMismatchError,
)
from optimum_hywia.evaluation import perplexity

from tiny_models import byte_tokenizer, save_tiny_checkpoint, tiny_model, tiny_tokenizer

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
CHEAP = ["--importance", "magnitude_l1", "--skip-first-layers", "1", "--skip-last-layers", "1", "--eval-windows", "0"]


def folder_state(folder: Path) -> dict[str, bytes] | None:
    """Every file under `folder` with its bytes (None when the folder does not exist)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Workspace:
    """A tiny checkpoint, a previous save of its pruned model and the folder a case writes to."""

    root: Path
    model: Path
    saved: Path
    output: Path

    def copy_of_saved(self, name: str, edit_config: Callable[[dict], None] | None = None) -> Path:
        folder = self.root / name
        shutil.copytree(self.saved, folder)
        if edit_config:
            config = json.loads((folder / "config.json").read_text())
            edit_config(config)
            (folder / "config.json").write_text(json.dumps(config))
        return folder


@pytest.fixture(scope="module")
def pruned_save(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reliability")
    save_tiny_checkpoint(root / "tiny")
    main(["prune", "--model", str(root / "tiny"), "--output", str(root / "saved"), *CHEAP])
    return root / "tiny", root / "saved"


@pytest.fixture
def workspace(pruned_save, tmp_path) -> Workspace:
    model, saved = pruned_save
    shutil.copytree(model, tmp_path / "tiny")
    return Workspace(tmp_path, tmp_path / "tiny", saved, tmp_path / "out")


# --- the CLI cases: (arguments after `hywia prune`, text the error line must hold); `prepare` may set up files ---

def _user_folder(ws: Workspace) -> list[str]:
    ws.output.mkdir()
    (ws.output / "thesis.tex").write_text("years of work")
    return ["--model", str(ws.model), "--output", str(ws.output)]


def _output_is_source(ws: Workspace) -> list[str]:
    return ["--model", str(ws.model), "--output", str(ws.model), "--overwrite"]


def _output_is_parent_of_cwd(ws: Workspace) -> list[str]:
    (ws.root / "work").mkdir()  # the test runs from here
    return ["--model", str(ws.model), "--output", str(ws.root), "--overwrite"]


def _missing_model(ws: Workspace) -> list[str]:
    return ["--model", str(ws.root / "no-such-model"), "--output", str(ws.output)]


def _unsupported(ws: Workspace) -> list[str]:
    folder = ws.root / "gpt2"
    GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=96, architectures=["GPT2LMHeadModel"]).save_pretrained(folder)
    return ["--model", str(folder), "--output", str(ws.output)]  # no weights: loading them would be another error


def _truncated_weights(ws: Workspace) -> list[str]:
    weights = ws.model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return ["--model", str(ws.model), "--output", str(ws.output)]


def _widths_mismatch(ws: Workspace) -> list[str]:
    folder = ws.copy_of_saved("edited", lambda c: c["layer_widths"][1].update(intermediate_size=7))
    return ["--model", str(folder), "--output", str(ws.output)]


def _newer_format(ws: Workspace) -> list[str]:
    folder = ws.copy_of_saved("future", lambda c: c["hywia"].update(format_version=99))
    return ["--model", str(folder), "--output", str(ws.output)]


def _tokenizer_too_large(ws: Workspace) -> list[str]:
    byte_tokenizer().save_pretrained(ws.model)  # 256 tokens for a 96-row embedding table
    return ["--model", str(ws.model), "--output", str(ws.output)]


def _with(*extra: str) -> Callable[[Workspace], list[str]]:
    return lambda ws: ["--model", str(ws.model), "--output", str(ws.output), *extra]


def _empty_eval_text(ws: Workspace) -> list[str]:
    (ws.root / "empty.txt").write_text("")
    return _with("--eval-windows", "2", "--eval-data", str(ws.root / "empty.txt"))(ws)


def _short_calibration_text(ws: Workspace) -> list[str]:
    (ws.root / "short.txt").write_text("Too short.")
    return _with("--importance", "element1", "--calibration-data", str(ws.root / "short.txt"))(ws)


CLI_CASES: dict[str, tuple[Callable[[Workspace], list[str]], str]] = {
    "output-not-a-save": (_user_folder, "is not empty and is not a model saved by optimum-hywia"),
    "output-is-source": (_output_is_source, "the model being saved was loaded from"),
    "output-is-parent-of-cwd": (_output_is_parent_of_cwd, "it is the current directory or one of its parents"),
    "missing-model": (_missing_model, "Cannot find model"),
    "unsupported-architecture": (_unsupported, "Cannot prune `GPT2LMHeadModel`"),
    "truncated-safetensors": (_truncated_weights, "is corrupted or truncated"),
    "layer-widths-mismatch": (_widths_mismatch, "`model.layers.1.mlp.down_proj.weight` has shape [48, 32]"),
    "newer-format-version": (_newer_format, "saved in optimum-hywia format_version 99"),
    "tokenizer-vocab-mismatch": (_tokenizer_too_large, "The tokenizer has 256 tokens"),
    "calibration-without-builtin-prefix": (_with("--calibration-data", "austen"), "is 'builtin:austen'"),
    "hub-dataset-unreachable": (_with("--eval-windows", "2", "--eval-data", "hub:no-such/dataset"),
                                "Could not fetch dataset 'no-such/dataset'"),
    "learned-allocation-without-hywia": (_with("--allocation", "learned"), "`allocation='learned'`"),
    "temperatures-reversed": (_with("--importance", "hywia", "--temperature-start", "0.001", "--temperature-end",
                                    "0.1"), "`temperature_start` (0.001) must be >= `temperature_end` (0.1)"),
    "holdout-covers-calibration": (_with("--importance", "hywia", "--num-calibration-samples", "4",
                                         "--fusion-holdout-samples", "4"),
                                   "`fusion_holdout_samples` (4) must be smaller than `num_calibration_samples` (4)"),
    "empty-eval-text": (_empty_eval_text, "Text too short: 0 tokens"),
    "too-short-calibration-text": (_short_calibration_text, "Text too short"),
    "pruning-ratio-out-of-range": (_with("--pruning-ratio", "1.0"), "`pruning_ratio` must be a number in [0, 1)"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_input_is_one_error_line_and_touches_nothing(case, workspace, capsys, monkeypatch):
    prepare, expected = CLI_CASES[case]
    arguments = prepare(workspace)
    if case == "output-is-parent-of-cwd":
        monkeypatch.chdir(workspace.root / "work")
    entries = set(workspace.root.iterdir())
    before = {path: folder_state(path) for path in entries if path.is_dir()}
    output_before = folder_state(Path(arguments[arguments.index("--output") + 1]))
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", *CHEAP, *arguments])  # a case's own options come last, so they win
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert exit_info.value.code == 2
    assert len(error_lines) == 1 and error_lines[0].startswith("hywia prune: error: "), error_lines
    assert expected in error_lines[0]
    assert folder_state(Path(arguments[arguments.index("--output") + 1])) == output_before
    assert {path: folder_state(path) for path in before} == before  # the model and every other folder untouched
    assert set(workspace.root.iterdir()) == entries  # no output, no staging folder left behind


def test_cli_output_that_is_a_previous_save_is_replaced(workspace):
    shutil.copytree(workspace.saved, workspace.output)
    (workspace.output / "hywia_results.json").write_text("{}")
    main(["prune", "--model", str(workspace.model), "--output", str(workspace.output), *CHEAP])
    assert json.loads((workspace.output / "hywia_results.json").read_text())["model"] == str(workspace.model)


def test_cli_overwrite_replaces_a_folder_the_user_names(workspace):
    arguments = _user_folder(workspace)
    main(["prune", *arguments, "--overwrite", *CHEAP])
    assert not (workspace.output / "thesis.tex").exists() and (workspace.output / "hywia_config.json").is_file()


def test_saved_folder_has_umask_permissions(workspace):
    umask = os.umask(0o022)
    try:
        main(["prune", "--model", str(workspace.model), "--output", str(workspace.output), *CHEAP])
    finally:
        os.umask(umask)
    assert workspace.output.stat().st_mode & 0o777 == 0o755


# --- API cases: a typed exception (a HyWIAError) with the fix in its message, nothing written ---

@pytest.fixture
def pruned_model():
    model = tiny_model("llama_gqa")
    pruner = HyWIAPruner(pruning_ratio=0.5, importance="magnitude_l1", skip_first_layers=1, skip_last_layers=1)
    return pruner, pruner.prune(model)


def test_api_save_to_user_folder(pruned_model, tmp_path):
    pruner, model = pruned_model
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="Pass a new folder, or `--overwrite` \\(`overwrite=True`\\)"):
        pruner.save_pretrained(model, tmp_path)
    assert folder_state(tmp_path) == {"notes.txt": b"mine"}
    save_pruned_model(model, tmp_path, overwrite=True)
    assert not (tmp_path / "notes.txt").exists() and (tmp_path / "config.json").is_file()


def test_api_perplexity_positional_text():
    with pytest.raises(CalibrationDataError, match="pass it as `text=...`"):
        perplexity(tiny_model("llama_gqa"), tiny_tokenizer(), "It is a truth universally acknowledged.")


def test_api_learned_allocation_without_hywia():
    with pytest.raises(ConfigError, match="needs `importance='hywia'` and `fusion='attention'`"):
        HyWIAConfig(allocation="learned", importance="element1")


def test_api_too_short_calibration_text(tmp_path):
    (tmp_path / "short.txt").write_text("Too short.")
    with pytest.raises(CalibrationDataError, match="Use a longer text, fewer samples or a shorter `calibration_seq_len`"):
        load_calibration_data(tmp_path / "short.txt", tiny_tokenizer(), num_samples=2, seq_len=64)


def test_api_tokenizer_vocab_mismatch():
    pruner = HyWIAPruner(importance="element1", skip_first_layers=1, skip_last_layers=1, num_calibration_samples=2,
                         calibration_seq_len=8)
    with pytest.raises(TokenizerMismatchError, match="Use the tokenizer saved with this model"):
        pruner.prune(tiny_model("llama_gqa"), tokenizer=byte_tokenizer())


def test_api_offloaded_weights():
    model = tiny_model("llama_gqa")
    ids = torch.randint(0, 50, (1, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        dense_logits = model(ids).logits
    cpu_offload(model, execution_device=torch.device("cpu"))  # weights leave the modules, swapped in per forward
    pruner = HyWIAPruner(importance="element1", skip_first_layers=1, skip_last_layers=1, num_calibration_samples=2,
                         calibration_seq_len=8)
    with pytest.raises(PlacementError, match="offloaded by accelerate.*--fsdp"):
        pruner.prune(model, calibration_data=torch.randint(0, 50, (2, 8)))
    with torch.no_grad():  # the offloaded model still runs and computes what it did
        assert torch.equal(model(ids).logits, dense_logits)


def test_api_meta_weights():
    with torch.device("meta"):
        model = tiny_model("llama_gqa")
    with pytest.raises(PlacementError, match="meta device.*no weights to score"):
        HyWIAPruner(importance="element1").prune(model, calibration_data=torch.randint(0, 50, (2, 8)))


def test_api_newer_format_version(pruned_save, tmp_path):
    folder = tmp_path / "future"
    shutil.copytree(pruned_save[1], folder)
    config = json.loads((folder / "config.json").read_text())
    config["hywia"]["format_version"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="Upgrade it: pip install -U optimum-hywia"):
        load_model_and_tokenizer(str(folder))


def test_api_older_save_without_format_version_loads(pruned_save, tmp_path):
    folder = tmp_path / "older"
    shutil.copytree(pruned_save[1], folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["hywia"].pop("format_version") == 1
    (folder / "config.json").write_text(json.dumps(config))
    model, _ = load_model_and_tokenizer(str(folder))
    assert model.config.layer_widths == config["layer_widths"]


def test_api_highest_pruning_ratio_leaves_no_layer_empty():
    pruner = HyWIAPruner(pruning_ratio=0.99, importance="magnitude_l1", skip_first_layers=0, skip_last_layers=0)
    model = pruner.prune(tiny_model("llama_gqa"))
    assert all(min(widths.values()) >= 1 for widths in model.config.layer_widths)
    assert torch.isfinite(model(torch.tensor([[1, 2, 3]])).logits).all()


def test_api_recover_without_output_dir_leaks_no_folder(tmp_path, monkeypatch):
    pytest.importorskip("peft")
    import tempfile

    from optimum_hywia.training.recovery import recover

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rows = [{"input_ids": torch.arange(8), "labels": torch.arange(8)}] * 4
    recover(tiny_model("llama_gqa"), rows, max_steps=1, batch_size=2, training_args={"use_cpu": True})
    assert list(tmp_path.iterdir()) == []


def test_every_error_is_a_hywia_error():
    for error in (OutputFolderError, CalibrationDataError, ConfigError, CheckpointError, TokenizerMismatchError):
        assert issubclass(error, HyWIAError)


# --- the table in docs/reliability.md and these cases stay in step ---

def _doc_rows() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*`((?:cli|api):[a-z0-9-]+)`\s*\|(.*)", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_doc_table_matches_cases():
    module = sys.modules[__name__]
    api = {f"api:{name[len('test_api_'):].replace('_', '-')}" for name in dir(module) if name.startswith("test_api_")}
    cli = {f"cli:{case}" for case in CLI_CASES}
    rows = _doc_rows()
    assert set(rows) == api | cli
    for case, (_, expected) in CLI_CASES.items():
        assert expected in rows[f"cli:{case}"], f"docs/reliability.md row `cli:{case}` does not quote {expected!r}"
