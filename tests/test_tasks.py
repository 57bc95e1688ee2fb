"""The offline Austen tasks: rebuilt byte for byte, built from held-out text only, well-formed."""

from __future__ import annotations

import json
import re

import pytest

from optimum_hywia.data import builtin_text
from optimum_hywia.evaluation import build_tasks
from optimum_hywia.evaluation.build_tasks import TASK_FILES, build_all, main, shipped_dir, split_sentences, to_jsonl


@pytest.fixture(scope="module")
def built():
    return build_all()


def _shipped(task: str) -> list[dict]:
    return [json.loads(line) for line in (shipped_dir() / TASK_FILES[task]).read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("task", sorted(TASK_FILES))
def test_builder_reproduces_shipped_jsonl_byte_for_byte(built, task):
    shipped = (shipped_dir() / TASK_FILES[task]).read_bytes()
    assert to_jsonl(built[task]).encode("utf-8") == shipped


def test_check_mode_flags_a_stale_file(built, tmp_path, capsys):
    for task, items in built.items():
        (tmp_path / TASK_FILES[task]).write_text(to_jsonl(items), encoding="utf-8")
    path = tmp_path / TASK_FILES["austen_lastword"]
    path.write_text(path.read_text()[:-10])
    assert main(["--output-dir", str(tmp_path), "--check"]) == 1
    printed = capsys.readouterr().out
    assert "Out of date" in printed and "austen_lastword.jsonl" in printed
    assert "austen_nextsentence.jsonl" not in printed


def test_another_seed_gives_other_items(built):
    other = build_all(seed=build_tasks.SEED + 1, items_per_book=20)
    assert [i["id"] for i in other["austen_lastword"]] != [i["id"] for i in built["austen_lastword"][:40]]


def test_items_come_from_held_out_books_only(built):
    calibration = builtin_text("austen")
    for task, items in built.items():
        assert len(items) == 2 * build_tasks.ITEMS_PER_BOOK
        assert {i["book"] for i in items} == {"prideprejudice", "sensesensibility"}
        assert len({i["id"] for i in items}) == len(items)
        # first items mix both books, so a `limit` is representative
        assert len({i["book"] for i in items[:20]}) == 2
    # a long, distinctive piece of a context is found in its book and not in the calibration text
    for item in built["austen_nextsentence"][:20]:
        probe = item["context"].split("\n")[0][:60]
        assert probe in " ".join(builtin_text(item["book"]).replace("_", "").split())
        assert probe not in " ".join(calibration.split())


def test_lastword_items_are_predictable_content_words(built):
    for item in built["austen_lastword"]:
        word = item["target"]
        assert re.fullmatch(r"[A-Za-z]{3,}", word) and word.lower() not in build_tasks.STOPWORDS
        assert re.search(rf"\b{word}\b", item["context"], re.IGNORECASE)
        assert 50 <= len(item["context"].split()) + 1 <= 110
        assert not item["context"].endswith(" ")


def test_nextsentence_items_have_four_distinct_endings_and_balanced_labels(built):
    items = built["austen_nextsentence"]
    labels = [i["label"] for i in items]
    assert all(len(set(i["endings"])) == 4 for i in items)
    assert min(labels.count(k) for k in range(4)) > len(items) / 8
    for item in items[:50]:
        true = item["endings"][item["label"]]
        assert all(not e.startswith(" ") for e in item["endings"])
        assert true not in item["context"]


def test_sentence_splitter_keeps_titles():
    assert split_sentences('Mr. Darcy bowed. "Is it so?" Mrs. Bennet asked.') == [
        "Mr. Darcy bowed.", '"Is it so?"', "Mrs. Bennet asked."
    ]


def test_shipped_yaml_names_the_shipped_jsonl():
    import yaml

    for task, filename in TASK_FILES.items():
        config = yaml.safe_load((shipped_dir() / f"{task}.yaml").read_text())
        assert config["task"] == task and config["dataset_path"] == "json"
        assert config["dataset_kwargs"]["data_files"] == {"test": filename}
        assert len(_shipped(task)) == 2 * build_tasks.ITEMS_PER_BOOK
