"""Freed memory goes back to the system: the glibc mapping threshold is fixed where glibc is the allocator."""

from __future__ import annotations

import platform
import sys

import pytest

from optimum_hywia.memory import hand_back_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_threshold_is_fixed_on_glibc():
    assert hand_back_freed_memory() is True


@pytest.mark.skipif(sys.platform.startswith("linux"), reason="elsewhere nothing changes")
def test_nothing_changes_off_linux():
    assert hand_back_freed_memory() is False
