"""Model-card metadata validation, as the local Hub's ``POST /api/validate-yaml`` applies it.

See the package docstring (tests/hub/__init__.py) for exactly what is checked.
"""

from __future__ import annotations

import re
from typing import Any

# Same as huggingface_hub.repocard.REGEX_YAML_BLOCK.
REGEX_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _each_mapping(items: list, where: str, errors: list[str]):
    """(place, item) for each mapping of `items`; an error for each item that is not one."""
    for i, item in enumerate(items):
        place = f"{where}[{i}]"
        if isinstance(item, dict):
            yield place, item
        else:
            errors.append(f'"{place}" must be a mapping, got {_type_name(item)}')


def _check_result(result: dict, where: str, errors: list[str]) -> None:
    task = result.get("task")
    if not isinstance(task, dict) or not isinstance(task.get("type"), str):
        errors.append(f'"{where}.task.type" is required and must be a string')
    dataset = result.get("dataset")
    if not isinstance(dataset, dict):
        errors.append(f'"{where}.dataset" is required and must be a mapping')
    else:
        errors += [f'"{where}.dataset.{key}" is required and must be a string' for key in ("name", "type")
                   if not isinstance(dataset.get(key), str)]
    metrics = result.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        errors.append(f'"{where}.metrics" is required and must be a non-empty list')
        return
    for place, metric in _each_mapping(metrics, f"{where}.metrics", errors):
        if not isinstance(metric.get("type"), str):
            errors.append(f'"{place}.type" is required and must be a string')
        if metric.get("value") is None:
            errors.append(f'"{place}.value" is required')


def _check_model_index(model_index: Any) -> list[str]:
    errors: list[str] = []
    if not isinstance(model_index, list):
        return [f'"model-index" must be a list, got {_type_name(model_index)}']
    for where, entry in _each_mapping(model_index, "model-index", errors):
        if not isinstance(entry.get("name"), str):
            errors.append(f'"{where}.name" is required and must be a string')
        results = entry.get("results")
        if not isinstance(results, list):
            errors.append(f'"{where}.results" is required and must be a list, got {_type_name(results)}')
            continue
        for place, result in _each_mapping(results, f"{where}.results", errors):
            _check_result(result, place, errors)
    return errors


def validate_card_metadata(content: str, repo_type: str = "model") -> tuple[list[str], list[str], dict | None]:
    """Validate the YAML metadata block of a repo card. Returns ``(errors, warnings, metadata)``.

    See the module docstring for exactly what is checked.
    """
    import yaml  # hard dependency of huggingface_hub

    match = REGEX_YAML_BLOCK.search(content)
    if match is None:
        return [], ["Empty or missing yaml metadata in repo card"], None
    try:
        metadata = yaml.safe_load(match.group(2))
    except yaml.YAMLError as exc:
        return [f"Invalid YAML in the metadata block: {' '.join(str(exc).split())}"], [], None
    if metadata is None:
        return [], ["Empty or missing yaml metadata in repo card"], None
    if not isinstance(metadata, dict):
        return [f"The metadata block must be a YAML mapping, got {_type_name(metadata)}"], [], None

    errors: list[str] = []
    if repo_type == "model":
        if "license" in metadata and not isinstance(metadata["license"], str):
            errors.append(f'"license" must be a string, got {_type_name(metadata["license"])}')
        if "tags" in metadata and not is_str_list(metadata["tags"]):
            errors.append(f'"tags" must be a list of strings, got {metadata["tags"]!r}')
        if "base_model" in metadata:
            base_model = metadata["base_model"]
            if not (isinstance(base_model, str) or is_str_list(base_model)):
                errors.append(f'"base_model" must be a string or a list of strings, got {base_model!r}')
        if "model-index" in metadata:
            errors.extend(_check_model_index(metadata["model-index"]))
    return errors, [], metadata
