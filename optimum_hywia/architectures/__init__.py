"""Architecture knowledge: which weights form each prunable unit, one spec per model family."""

from .base import (ATTENTION, MLP, UNIT_KINDS, ArchitectureSpec, GroupKey, UnitGroup, UnitMember, groups_by_layer,
                   member_module)
from .registry import check_supported_config, get_architecture_spec, register_architecture, supported_architectures

__all__ = [
    "ATTENTION",
    "MLP",
    "UNIT_KINDS",
    "ArchitectureSpec",
    "GroupKey",
    "UnitGroup",
    "UnitMember",
    "check_supported_config",
    "get_architecture_spec",
    "groups_by_layer",
    "member_module",
    "register_architecture",
    "supported_architectures",
]
