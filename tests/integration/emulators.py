"""An emulator of a test module's own, started as the stack starts it."""

from __future__ import annotations

import contextlib

from devstack.core import emulator
from devstack.core.stack_config import StackConfig
from devstack.runtime import stack as local_stack


@contextlib.contextmanager
def own_emulator(home, iam_mode: str):
    """MiniStack of its own, in ``iam_mode``, as the stack starts it; yields its config."""
    cfg = StackConfig(home=home, ministack_port=local_stack.free_port(), iam_mode=iam_mode)
    ministack = local_stack.component(cfg, "ministack")
    emulator.prepare_state_dir(cfg.home / "ministack")
    local_stack.start_and_wait(ministack, cfg, 30)
    try:
        yield cfg
    finally:
        local_stack.stop([ministack], cfg)
