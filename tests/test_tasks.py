"""The offline tasks: rebuilt byte for byte, built from test and validation text only, well-formed, split by rule."""

from __future__ import annotations

import json
import re

import pytest

from optimum_hywia.data import builtin_text
from tools import build_tasks
from tools.build_tasks import TASK_FILES, build_all, main, shipped_dir, split_sentences, to_jsonl
from optimum_hywia.evaluation.splits import (
    LOOKED_AT_ITEMS,
    LOOKED_AT_TASKS,
    SOURCE_SPLITS,
    TEST,
    VALIDATION,
    item_split,
    split_items,
)
from tools.task_text import (
    AUSTEN_BOOKS,
    HELD_OUT_TEXTS,
    JARGON_TEST_TEXTS,
    TASK_SOURCES,
    task_source_text,
)
from optimum_hywia.training.recovery import DEFAULT_RECOVERY_DATA

# every text used to calibrate or recover: no task item may come from one of them
CALIBRATION_TEXTS = ("builtin:austen", "builtin:mixed", DEFAULT_RECOVERY_DATA)
# texts used to choose defaults: only validation items may come from them
VALIDATION_TEXTS = ("builtin:sensesensibility", "builtin:jargon_validation")


@pytest.fixture(scope="module")
def built():
    return build_all()


def _joined(sources) -> str:
    return " ".join(" ".join(builtin_text(source.removeprefix("builtin:")).replace("_", "").split())
                    for source in sources)


@pytest.fixture(scope="module")
def used_texts():
    return _joined(CALIBRATION_TEXTS)


@pytest.fixture(scope="module")
def validation_texts():
    return _joined(VALIDATION_TEXTS)


def _normalised(name: str) -> str:
    return " ".join(task_source_text(name).replace("_", "").split())


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


def test_six_tasks_two_out_of_domain_over_3000_test_items_from_test_text_only(built):
    assert len(built) >= 6 and sum(task.startswith("jargon") for task in built) >= 2
    assert set(HELD_OUT_TEXTS) == {*AUSTEN_BOOKS, *JARGON_TEST_TEXTS}
    assert {SOURCE_SPLITS[name] for name in HELD_OUT_TEXTS} == {TEST}
    assert {SOURCE_SPLITS[name] for name in set(TASK_SOURCES) - set(HELD_OUT_TEXTS)} == {VALIDATION}
    test_items = 0
    for task, items in built.items():
        assert len({i["id"] for i in items}) == len(items), task
        assert {i["book"] for i in items} <= set(TASK_SOURCES), task
        test = split_items(task, items, TEST)
        validation = split_items(task, items, VALIDATION)
        assert len(test) + len(validation) == len(items)
        assert {i["book"] for i in test} <= set(HELD_OUT_TEXTS)
        assert len(validation) >= 100, task
        test_items += len(test)
        assert {i["book"] for i in test[:40]} == {i["book"] for i in test}  # a `limit` draws from every text
    assert test_items >= 3000


def test_looked_at_items_are_validation_whatever_their_text(built):
    for task in LOOKED_AT_TASKS:
        items = built[task]
        assert all(item_split(task, k, items[k]) == VALIDATION for k in range(LOOKED_AT_ITEMS))
        assert SOURCE_SPLITS[items[0]["book"]] == TEST  # drawn from a test text, relabelled because it was scored
        assert item_split(task, LOOKED_AT_ITEMS, items[LOOKED_AT_ITEMS]) == TEST
    assert item_split("austen_wordorder", 0, built["austen_wordorder"][0]) == TEST  # a new task: nothing looked at


def test_an_item_from_an_unknown_text_is_an_error():
    with pytest.raises(ValueError, match="no known source text"):
        item_split("austen_lastword", 100, {"id": "x-1", "book": "emma"})


@pytest.mark.parametrize("task", sorted(TASK_FILES))
def test_contexts_are_found_in_their_text_and_test_contexts_in_no_used_text(built, used_texts, validation_texts,
                                                                           task):
    items = built[task]
    sampled = items[:25] + split_items(task, items, VALIDATION)[-25:]
    for position, item in enumerate(items):
        if item not in sampled:
            continue
        probe = " ".join(item["context"].split())[-60:]
        assert probe in _normalised(item["book"])
        if len(re.findall(r"[A-Za-z]{2,}", probe)) < 5:  # a line of box drawing or digits occurs in every slice
            continue
        assert probe not in used_texts
        if SOURCE_SPLITS[item["book"]] == TEST:
            assert probe not in validation_texts


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


@pytest.mark.parametrize("task", ["austen_wordorder", "jargon_wordorder"])
def test_wordorder_items_swap_two_neighbouring_words_of_the_true_sentence(built, task):
    items = built[task]
    labels = [i["label"] for i in items]
    assert min(labels.count(k) for k in range(2)) > len(items) / 3
    for item in items:
        true, other = item["choices"][item["label"]], item["choices"][1 - item["label"]]
        a, b = true.split(" "), other.split(" ")
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        assert len(a) == len(b) and len(diff) == 2 and diff[1] == diff[0] + 1
        assert a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
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
        assert config["task"] in build_tasks.TASK_PLAN
        assert _shipped(task) == built[task]
