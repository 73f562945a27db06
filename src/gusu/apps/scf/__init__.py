"""Supply-chain finance: receivable vouchers (应收账款电子凭证) on a deployed contract (docs/apps/scf.md)."""
