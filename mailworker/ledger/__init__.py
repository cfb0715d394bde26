"""The four-replica Merkle ledger (hashes only, never personal data)."""
