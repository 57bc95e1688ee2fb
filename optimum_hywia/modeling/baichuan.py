"""Pruned Baichuan: a static template module that subclasses the checkpoint's own remote code.

Baichuan (Baichuan-7B, Baichuan2) is not part of transformers: its modeling code ships with each checkpoint and loads
with `trust_remote_code=True`, so a pruned Baichuan cannot be one of the package's own pruned types
(`pruned_types.py`). `pruned_baichuan_types(model)` writes, beside the model's own remote-code module (in
transformers' dynamic-module cache):

- ``modeling_hywia_baichuan.py``: the static template ``modeling_hywia_baichuan_template.py`` of this package, with
  its two ``# hywia: base`` imports pointed at the checkpoint's model and config classes;
- ``modeling_hywia_base.py``: the shared helpers it imports (copied as is),

and the pruned in-memory model becomes an instance of the template's `HyWIABaichuanForCausalLM`. `save_pretrained`
then copies both files and, through their relative imports, Baichuan's own files beside the weights, with `auto_map`
pointing at the pruned classes. The saved model loads with `trust_remote_code=True`, as the original Baichuan does,
whether or not optimum-hywia is installed; the same files serve in memory and after loading.

Example:
    >>> config_class, model_class = pruned_baichuan_types(model)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from torch import nn
from transformers.dynamic_module_utils import get_class_in_module
from transformers.utils import HF_MODULES_CACHE

from ..version import __version__

PRUNED_MODULE = "modeling_hywia_baichuan"
TEMPLATE = Path(__file__).with_name("modeling_hywia_baichuan_template.py")
BASE_MODULE = Path(__file__).with_name("modeling_hywia_base.py")
# the template's two imports of the checkpoint's classes (Baichuan2's names), each marked `# hywia: base`
_MODEL_IMPORT = "from .modeling_baichuan import BaichuanForCausalLM as BaichuanBase"
_CONFIG_IMPORT = "from .configuration_baichuan import BaichuanConfig as BaichuanConfigBase"


def _point_import(text: str, template_line: str, module: str, class_name: str, alias: str) -> str:
    """`text` with the template's import line `template_line` importing `class_name` from `.module` instead."""
    if text.count(template_line) != 1:
        raise RuntimeError(f"The Baichuan template {TEMPLATE.name} lacks the line `{template_line}`.")
    return text.replace(template_line, f"from .{module} import {class_name} as {alias}")


def render_pruned_module(model_module: str, model_class: str, config_module: str, config_class: str) -> str:
    """The text of `modeling_hywia_baichuan.py`: the template over the given remote-code module and class names."""
    text = _point_import(TEMPLATE.read_text(), _MODEL_IMPORT, model_module, model_class, "BaichuanBase")
    text = _point_import(text, _CONFIG_IMPORT, config_module, config_class, "BaichuanConfigBase")
    return f"# Written by optimum-hywia {__version__} from its {TEMPLATE.name}.\n{text}"


def _remote_code_folder(model: nn.Module) -> Path:
    """The dynamic-module folder holding the model's remote code; ValueError when it was not loaded as remote code."""
    folder = Path(sys.modules[type(model).__module__].__file__).resolve().parent
    if Path(HF_MODULES_CACHE).resolve() not in folder.parents:
        raise ValueError(
            f"`{type(model).__name__}` comes from {folder}, not from transformers' remote-code cache: load the "
            "Baichuan checkpoint with `AutoModelForCausalLM.from_pretrained(..., trust_remote_code=True)` so its "
            "pruned model can subclass the checkpoint's own code."
        )
    return folder


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def _write_pruned_module(model: nn.Module) -> Path:
    """Write the filled template and the base module beside `model`'s remote code; the template's path."""
    folder = _remote_code_folder(model)
    config_base = getattr(type(model), "config_class", None) or type(model.config)
    config_module = config_base.__module__.rpartition(".")[2]
    if not (folder / f"{config_module}.py").is_file():
        raise ValueError(f"Baichuan's config module `{config_module}.py` is not beside its model code in {folder}.")
    text = render_pruned_module(
        type(model).__module__.rpartition(".")[2], type(model).__name__, config_module, config_base.__name__
    )
    _write_if_changed(folder / BASE_MODULE.name, BASE_MODULE.read_text())
    path = folder / f"{PRUNED_MODULE}.py"
    _write_if_changed(path, text)
    return path


def pruned_baichuan_types(model: nn.Module) -> tuple[type, type]:
    """(config class, model class) of the pruned Baichuan over `model`'s own remote code, written on first use."""
    if getattr(type(model), "hywia_family", None) == "baichuan":
        return type(model.config), type(model)
    module_path = _write_pruned_module(model).relative_to(Path(HF_MODULES_CACHE).resolve())
    config_class = get_class_in_module("HyWIABaichuanConfig", module_path)
    model_class = get_class_in_module("HyWIABaichuanForCausalLM", module_path)
    # save_pretrained then copies the written files and Baichuan's files, and writes `auto_map`; the base config
    # class too, for `as_original_architecture` saves (AutoConfig registered the copy it loaded, not this one)
    for config_type in (config_class, get_class_in_module("BaichuanConfigBase", module_path)):
        config_type.register_for_auto_class()
    model_class.register_for_auto_class("AutoModelForCausalLM")
    return config_class, model_class


# families whose modeling code ships with the checkpoint: model_type -> factory of the pruned (config, model) classes
REMOTE_CODE_TYPES = {"baichuan": pruned_baichuan_types}
