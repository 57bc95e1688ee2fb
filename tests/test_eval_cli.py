"""`hywia eval` and `optimum-cli hywia eval` on a tiny local checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from optimum_hywia.commands.cli import main
from optimum_hywia.evaluation import load_results, perplexity, results_table

from tiny_models import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    tiny_model("llama_gqa", max_position_embeddings=1024).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_eval_prints_the_table_and_writes_json(checkpoint, tmp_path, capsys):
    out = tmp_path / "results.json"
    main(["eval", "--model", str(checkpoint), "--tasks", "austen_lastword,austen_nextsentence,ppl,ppl:jargon",
          "--limit", "3", "--ppl-windows", "2", "--batch-size", "4", "--output", str(out)])
    printed = capsys.readouterr().out
    assert printed.startswith("| task | metric | value | ± stderr | n | dataset |")
    for fragment in ("| austen_lastword | acc |", "| austen_nextsentence | acc_norm |", "| builtin:jargon |",
                     "| builtin:prideprejudice |"):
        assert fragment in printed
    rows = load_results(out)
    assert [r["task"] for r in rows] == ["austen_lastword", "austen_nextsentence", "mean", "perplexity", "perplexity"]
    assert all(set(r) >= {"task", "metric", "value", "stderr", "dataset"} for r in rows)
    assert [r["n"] for r in rows] == [3, 3, 6, 2, 2]
    mean = rows[2]
    assert mean["value"] == pytest.approx((rows[0]["value"] + rows[1]["value"]) / 2)
    assert mean["stderr"] == pytest.approx((rows[0]["stderr"] ** 2 + rows[1]["stderr"] ** 2) ** 0.5 / 2)
    assert "| mean | acc |" in printed
    settings = json.loads(out.read_text())["settings"]
    assert settings["limit"] == 3 and settings["split"] == "test"  # the final-numbers split unless told otherwise
    model, tokenizer = tiny_model("llama_gqa", max_position_embeddings=1024), tiny_tokenizer()
    expected = perplexity(model, tokenizer, "builtin:jargon", max_windows=2, show_progress=False)
    assert rows[4]["value"] == pytest.approx(expected, rel=1e-6)
    assert results_table(rows) in printed


def test_offline_hub_perplexity_set_fails_before_loading_the_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--model", str(tmp_path / "no-such-model"), "--tasks", "ppl:wikitext2"])
    assert "Hugging Face Hub" in str(exit_info.value.code) and "builtin:prideprejudice" in str(exit_info.value.code)


@pytest.mark.parametrize("bad,named", [(["--limit", "0"], "--limit"), (["--tasks", "ppl:"], "ppl:"),
                                       (["--tasks", "ppl:missing.txt"], "missing.txt")])
def test_bad_option_is_one_clear_error(tmp_path, capsys, bad, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--model", str(tmp_path / "no-such-model"), *bad])
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("optimum-cli") is None, reason="optimum-cli is not on PATH")
def test_optimum_cli_registers_eval():
    result = subprocess.run(["optimum-cli", "hywia", "eval", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--tasks" in result.stdout and "austen_nextsentence" in result.stdout
