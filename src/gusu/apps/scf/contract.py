"""The scf contract's source and the constants the SDK side shares with it.

The contract is not built into the node: `gusu scf setup` (or `ScfApp.setup`)
deploys this source through the `contracts` deployer, after governance
approved its code hash. The source is package data (`vouchers_contract.py.src`),
not an importable module: it runs only inside the sandbox.
"""

from __future__ import annotations

from importlib import resources

CONTRACT_NAME = "scf"
"""The name the setup command deploys the contract at (another can be given)."""
SOURCE_FILE = "vouchers_contract.py.src"

DAY_MS = 86_400_000
TERM_DEFAULT_MAX_DAYS = 183
"""6 months, counted as 183 days (half of a leap year, rounded up): 银发〔2025〕77号's "in principle"."""
TERM_HARD_MAX_DAYS = 365
"""1 year, counted as 365 days: the cap no configuration can raise."""
AMOUNT_MAX_FEN = 10**15
"""10 trillion yuan: so that an issuer's running totals (at most 4,096 vouchers) stay below 2**63 fen."""
RATE_MAX_BP = 10_000
ENTERPRISE_KINDS = ("core", "supplier", "funder", "regulator")


def get_contract_source() -> str:
    """The contract's Python source, as deployed."""
    return resources.files(__package__).joinpath(SOURCE_FILE).read_text(encoding="utf-8")


def compute_interest_fen(amount_fen: int, rate_bp: int, days: int) -> int:
    """amount × rate × days / 365, the rate in basis points a year, rounded half up to a whole fen.

    The contract computes the same (tests check they agree), so a holder can
    preview an offer's cost before any funder makes it.
    """
    assert amount_fen >= 0 and rate_bp >= 0 and days >= 0
    numerator = amount_fen * rate_bp * days
    denominator = 10_000 * 365
    return (2 * numerator + denominator) // (2 * denominator)
