"""The offline tasks: rebuilt byte for byte, built from held-out text only, well-formed."""

from __future__ import annotations

import json
import re

import pytest

from optimum_hywia.data import builtin_text
from optimum_hywia.evaluation import build_tasks
from optimum_hywia.evaluation.build_tasks import TASK_FILES, build_all, main, shipped_dir, split_sentences, to_jsonl
from optimum_hywia.evaluation.task_text import AUSTEN_BOOKS, HELD_OUT_TEXTS, JARGON_TEXT, held_out_text
from optimum_hywia.recovery import DEFAULT_RECOVERY_DATA

# every text used to calibrate, choose defaults or recover: no task item may come from one of them
NOT_HELD_OUT = ("builtin:austen", "builtin:mixed", "builtin:sensesensibility", "builtin:jargon_validation",
                DEFAULT_RECOVERY_DATA)


@pytest.fixture(scope="module")
def built():
    return build_all()


@pytest.fixture(scope="module")
def used_texts():
    return " ".join(" ".join(builtin_text(source.removeprefix("builtin:")).replace("_", "").split())
                    for source in NOT_HELD_OUT)


def _normalised(name: str) -> str:
    return " ".join(held_out_text(name).replace("_", "").split())


def _shipped(task: str) -> list[dict]:
    return [json.loads(line) for line in (shipped_dir() / TASK_FILES[task]).read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("task", sorted(TASK_FILES))
def test_builder_reproduces_shipped_jsonl_byte_for_byte(built, task):
    shipped = (shipped_dir() / TASK_FILES[task]).read_bytes()
    assert to_jsonl(built[task]).encode("utf-8") == shipped


def test_check_mode_accepts_a_fresh_build_and_flags_a_stale_file(built, tmp_path, capsys):
    for task, items in built.items():
        (tmp_path / TASK_FILES[task]).write_text(to_jsonl(items), encoding="utf-8")
    assert main(["--output-dir", str(tmp_path), "--check"]) == 0
    path = tmp_path / TASK_FILES["austen_lastword"]
    path.write_text(path.read_text()[:-10])
    assert main(["--output-dir", str(tmp_path), "--check"]) == 1
    printed = capsys.readouterr().out
    assert "Out of date" in printed and "austen_lastword.jsonl" in printed
    assert "austen_nextsentence.jsonl" not in printed


def test_another_seed_gives_other_items(built):
    other = build_all(seed=build_tasks.SEED + 1, scale=0.1)
    assert [i["id"] for i in other["austen_lastword"]] != [i["id"] for i in built["austen_lastword"][:45]]


def test_at_least_four_tasks_each_from_held_out_text_only(built):
    assert len(built) >= 4
    assert set(HELD_OUT_TEXTS) == {*AUSTEN_BOOKS, JARGON_TEXT}
    assert "sensesensibility" not in HELD_OUT_TEXTS
    for task, items in built.items():
        sources = {i["book"] for i in items}
        assert sources <= set(HELD_OUT_TEXTS), task
        assert len({i["id"] for i in items}) == len(items)
        assert len({i["book"] for i in items[:20]}) == len(sources)  # a `limit` draws from every source


@pytest.mark.parametrize("task", sorted(TASK_FILES))
def test_contexts_are_found_in_their_held_out_text_and_in_no_used_text(built, used_texts, task):
    for item in built[task][:25]:
        probe = " ".join(item["context"].split())[-60:]
        assert probe in _normalised(item["book"])
        assert probe not in used_texts


def test_lastword_items_are_predictable_content_words(built):
    for item in built["austen_lastword"]:
        word = item["target"]
        assert re.fullmatch(r"[A-Za-z]{3,}", word) and word.lower() not in build_tasks.STOPWORDS
        assert re.search(rf"\b{word}\b", item["context"], re.IGNORECASE)
        words = len(item["context"].split()) + 1
        assert 50 <= words <= 110 or words > 110 and len(split_sentences(item["context"])) == 1  # one long sentence
        assert not item["context"].endswith(" ")


@pytest.mark.parametrize("task", ["austen_nextsentence", "jargon_nextsentence"])
def test_nextsentence_items_have_four_distinct_endings_and_balanced_labels(built, task):
    items = built[task]
    labels = [i["label"] for i in items]
    assert all(len(set(i["endings"])) == 4 for i in items)
    assert min(labels.count(k) for k in range(4)) > len(items) / 8
    for item in items[:50]:
        true = item["endings"][item["label"]]
        assert all(not e.startswith(" ") for e in item["endings"])
        assert true not in item["context"]


def test_name_items_choose_among_four_characters_of_the_book(built):
    items = built["austen_names"]
    labels = [i["label"] for i in items]
    assert min(labels.count(k) for k in range(4)) > len(items) / 8
    for item in items:
        characters = build_tasks.CHARACTERS[item["book"]]
        assert len(set(item["choices"])) == 4 and set(item["choices"]) <= set(characters)
        true = item["choices"][item["label"]]
        assert re.search(rf"\b{true}\b", item["context"])  # the name already occurs in the passage
        assert not item["context"].endswith(" ")
        low, high = build_tasks.NAME_CONTEXT_WORDS
        words = len(item["context"].split())
        assert low <= words <= high or words > high and len(split_sentences(item["context"])) == 1


def test_sentence_splitter_keeps_titles():
    assert split_sentences('Mr. Darcy bowed. "Is it so?" Mrs. Bennet asked.') == [
        "Mr. Darcy bowed.", '"Is it so?"', "Mrs. Bennet asked."
    ]


def test_shipped_yaml_names_the_shipped_jsonl(built):
    import yaml

    for task, filename in TASK_FILES.items():
        config = yaml.safe_load((shipped_dir() / f"{task}.yaml").read_text())
        assert config["task"] == task and config["dataset_path"] == "json"
        assert config["dataset_kwargs"]["data_files"] == {"test": filename}
        assert _shipped(task) == built[task]
