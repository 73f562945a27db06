"""Line metering: how an untrusted contract is stopped when its gas runs out.

A native contract is ordinary Python, so nothing but the interpreter can stop
a ``while True:`` loop. While an untrusted method runs, `sys.settrace`
installs a tracer that charges `GasSchedule.line` gas for every line the
interpreter executes in the method and in the Python functions it calls,
and unwinds the call (with `Abort`) as soon as the gas is gone.

What is traced: the method's frame and, transitively, every Python frame
called from a traced frame, except the runtime's own code (the `Context`
methods, which charge for their operations themselves, and whatever they
call). A frame called from an untraced frame is not traced either, so the
runtime's internals never count as contract lines.

Consensus caveat: how many "line" events a piece of code produces is decided
by CPython's compiler, which changes between minor versions (3.11 to 3.12),
so the gas of an untrusted call, and with it the receipt, depends on the
interpreter's minor version. That is why a chain's genesis pins one
(`Genesis.python_version`). Contracts that call pure-Python standard library
functions also pick up those functions' lines; to stay safe across patch
releases, such contracts should keep to builtins, or the nodes should run
the same patch release.

The collector is off while the method runs. A collection can start at any allocation, and whatever Python runs
in it (the callbacks of `gc.callbacks`, which test tools and profilers register, and finalizers) would run inside
the traced frame and be charged to the contract: its gas, and with it its receipt, would depend on when this
process last collected. (Found by the determinism test when a Hypothesis test earlier in the same process had
registered its callback: one receipt 180 gas higher, the callback's 9 lines.) The garbage a method makes is
collected after it returns; what it can allocate meanwhile is bounded by its gas.

Not a sandbox: a contract can import `sys` and switch the tracer off, and a
single C-level operation (``10 ** 10 ** 8``) runs unmetered to its end. Line
metering stops accidents (runaway loops, unbounded recursion), not malice;
untrusted contract code must still be reviewed before a chain registers it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from gusu.execution import context as _context_module
from gusu.execution.context import GasMeter, create_out_of_gas_error
from gusu.execution.errors import Abort, ContractError

_RUNTIME_FILES = frozenset({_context_module.__file__})
"""Source files whose frames are runtime, never charged per line."""

TraceFunction = Callable[[FrameType, str, Any], Any]


def invoke_metered(
    function: Callable[..., Any],
    arguments: tuple[Any, ...],
    meter: GasMeter,
    line_cost: int,
    call_depth_max: int,
) -> Any:
    """Call `function(*arguments)` with every executed line charged to `meter`.

    Raises `Abort` (a BaseException) carrying OutOfGasError when the gas is
    gone, or ContractError when calls nest deeper than `call_depth_max`.
    """
    entry_frame = sys._getframe()
    depth = 0
    # Set when the tracer stops the call. A contract can catch the Abort with
    # a bare except (tracing is off from then on), so the call fails after it
    # returns even if the contract swallowed the signal.
    stopped: Abort | None = None

    def on_event(frame: FrameType, event: str, _argument: Any) -> TraceFunction | None:
        nonlocal depth, stopped
        if event == "line":
            meter.remaining -= line_cost
            if meter.remaining < 0:
                stopped = Abort(create_out_of_gas_error(meter.limit))
                raise stopped
        elif event == "return":
            depth -= 1
        return on_event

    def on_call(frame: FrameType, _event: str, _argument: Any) -> TraceFunction | None:
        nonlocal depth, stopped
        caller = frame.f_back
        if caller is not entry_frame and (caller is None or caller.f_trace is not on_event):
            return None
        if frame.f_code.co_filename in _RUNTIME_FILES:
            return None
        depth += 1
        if depth > call_depth_max:
            stopped = Abort(ContractError(f"calls nest deeper than call_depth_max = {call_depth_max}"))
            raise stopped
        return on_event

    previous = sys.gettrace()
    was_collecting = gc.isenabled()
    gc.disable()
    sys.settrace(on_call)
    try:
        result = function(*arguments)
    finally:
        sys.settrace(previous)
        if was_collecting:
            gc.enable()
    if stopped is not None:
        raise stopped
    return result
