"""The executor's internal unwinding signal (not a user-facing error)."""

from __future__ import annotations

from gusu.errors import ContractError, GusuError

__all__ = ["Abort", "ContractError"]


class Abort(BaseException):
    """Unwinds a contract when the line tracer stops it.

    It derives from BaseException so that a contract's ``except Exception``
    cannot swallow it; the executor turns it back into `error`.
    """

    def __init__(self, error: GusuError) -> None:
        super().__init__(str(error))
        self.error = error
