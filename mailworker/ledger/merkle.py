"""RFC 9162 Merkle tree reference (being written). Standard library only."""


class LedgerError(Exception):
    """Base of every ledger error."""
