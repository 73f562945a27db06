"""Execution failures that `gusu.errors` does not (yet) name.

`ContractError` belongs beside the other `ExecutionError` subclasses in
`gusu.errors`; it lives here until that module gains it, and callers should
import it from `gusu.execution`.
"""

from __future__ import annotations

from gusu.errors import ExecutionError


class ContractError(ExecutionError):
    """The contract itself is broken: it raised an unexpected exception,
    misused the runtime (for example wrote state from a view) or returned a
    value that has no canonical encoding."""

    code = "contract_error"


class Abort(BaseException):  # noqa: N818 - a control-flow signal, not an error class of its own
    """Unwinds a contract when the line tracer stops it.

    It derives from BaseException so that a contract's ``except Exception``
    cannot swallow it; the executor turns it back into `error`.
    """

    def __init__(self, error: ExecutionError) -> None:
        super().__init__(str(error))
        self.error = error
