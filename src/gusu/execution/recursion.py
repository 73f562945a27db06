"""The interpreter's recursion limit, set only under one process-wide lock.

Python's recursion limit is one number for the whole process, and it decides what code that
recurses in C accepts: the parser and compiler that check a deployed contract's source, and
py-evm's nested calls. Importing py-evm raises it to 100,000, high enough for a deep expression in
a contract's source to overflow the C stack in `ast.parse` and kill the node. So every caller that
needs a bound sets it here, relative to the frames already on its own stack (the same depth is then
reached on every node, whatever called it), and restores the previous limit after; the lock keeps
two threads from restoring each other's limit.
"""

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_RECURSION_LIMIT_LOCK = threading.RLock()


def compute_stack_depth() -> int:
    """Frames on the calling thread's stack."""
    depth = 0
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


@contextmanager
def bounded_recursion(frames_max: int) -> Iterator[None]:
    """Run the block with at most `frames_max` Python frames (C recursion counts too) above the caller."""
    assert frames_max > 0, frames_max
    with _RECURSION_LIMIT_LOCK:
        previous_limit = sys.getrecursionlimit()
        # +2: this generator's frame and contextmanager's __enter__ sit between the caller and the block.
        sys.setrecursionlimit(compute_stack_depth() + 2 + frames_max)
        try:
            yield
        finally:
            sys.setrecursionlimit(previous_limit)
