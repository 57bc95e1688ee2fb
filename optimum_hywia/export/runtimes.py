"""Which serving runtimes can run a saved (dense or pruned) model, and the command for each (`hywia serve-check`).

Read from the saved `config.json` alone: the family, whether it is our pruned type, and whether every layer keeps the
same widths. Nothing is loaded or written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..modeling.convert import PRUNED_PREFIX
from .layout import PLAIN_ARCHITECTURES

_WIDTH_KEYS = ("num_attention_heads", "num_key_value_heads", "intermediate_size")


@dataclass(frozen=True)
class RuntimeSupport:
    """One runtime: whether it runs the model, the command that does it, and why (or why not)."""

    runtime: str
    supported: bool
    command: str
    note: str


def _read_config(folder: Path) -> dict:
    file = folder / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"No config.json in `{folder}`: give the folder of a saved model.")
    return json.loads(file.read_text())


def _uniform(config: dict) -> bool:
    widths = config.get("layer_widths") or []
    return all({k: w.get(k) for k in _WIDTH_KEYS} == {k: widths[0].get(k) for k in _WIDTH_KEYS} for w in widths)


def _transformers(folder: str, pruned: bool) -> RuntimeSupport:
    note = ("our pruned-model type: loads by name with optimum-hywia installed, else with `trust_remote_code=True` "
            "(its modeling file is saved beside the weights)") if pruned else "the plain architecture"
    remote = ", trust_remote_code=True" if pruned else ""
    return RuntimeSupport("transformers", True, f'AutoModelForCausalLM.from_pretrained("{folder}"{remote})', note)


def _llama_cpp(folder: str, family: str, uniform: bool) -> RuntimeSupport:
    if family not in PLAIN_ARCHITECTURES:
        return RuntimeSupport("llama.cpp (GGUF)", False, "-",
                              f"GGUF export supports {sorted(PLAIN_ARCHITECTURES)}, not `{family}`")
    architecture = PLAIN_ARCHITECTURES[family] if uniform else "deci (per-layer widths)"
    command = f"hywia export --model {folder} --format gguf --output model.gguf && llama-cli -m model.gguf"
    return RuntimeSupport("llama.cpp (GGUF)", True, command,
                          f"written as `{architecture}`; also Ollama, LM Studio and other llama.cpp front ends")


def _plain_engines(folder: str, pruned: bool, uniform: bool) -> RuntimeSupport:
    runtime = "vLLM / TGI (plain architecture)"
    command = f"vllm serve {folder}  |  text-generation-launcher --model-id {folder}"
    if not pruned:
        return RuntimeSupport(runtime, True, command, "saved as the plain architecture")
    if uniform:
        return RuntimeSupport(runtime, False, "hywia prune ... --save-as-original-architecture",
                              "every layer has the same widths but the folder holds our pruned type: save it as the "
                              "original architecture (`save_pretrained(..., as_original_architecture=True)`)")
    return RuntimeSupport(runtime, False, "hywia prune ... --allocation uniform --skip-first-layers 0 "
                          "--skip-last-layers 0 --save-as-original-architecture",
                          "layers have different widths; these engines need one width for every layer: prune with "
                          "the uniform allocation, or serve this model through llama.cpp")


def serving_report(folder: str | os.PathLike) -> list[RuntimeSupport]:
    """Support of each runtime for the model saved in `folder`.

    Example:
        >>> for row in serving_report("smollm2-hywia-50"):  # doctest: +SKIP
        ...     print(row.runtime, row.supported, row.command)
    """
    config = _read_config(Path(folder))
    model_type = config.get("model_type", "")
    pruned = model_type.startswith(PRUNED_PREFIX)
    family = model_type.removeprefix(PRUNED_PREFIX)
    uniform = _uniform(config)
    return [_transformers(str(folder), pruned), _llama_cpp(str(folder), family, uniform),
            _plain_engines(str(folder), pruned, uniform)]


def report_table(rows: list[RuntimeSupport]) -> str:
    lines = ["| runtime | runs it | command | note |", "|---|---|---|---|"]
    lines += [f"| {r.runtime} | {'✓' if r.supported else '✗'} | `{r.command}` | {r.note} |" for r in rows]
    return "\n".join(lines)
