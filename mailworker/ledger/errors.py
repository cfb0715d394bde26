"""Ledger errors beyond the proof errors of ``merkle.py``.

Each is both a ``LedgerError`` (so ledger code can catch all of its own troubles) and a
``MailworkerError`` (so the service loop and the CLI report it as one clear line).
"""
from __future__ import annotations

from ..errors import MailworkerError
from .merkle import LedgerError


class LedgerProblem(LedgerError, MailworkerError):
    """Base of the ledger's operational errors."""


class ReplicaUnavailable(LedgerProblem):
    """A replica's store cannot be reached or opened now; try again later."""


class ReplicaCorrupt(LedgerProblem):
    """A replica's store disagrees with itself or with the quorum."""


class ReplicaUnreadable(ReplicaCorrupt):
    """A replica's store file cannot be read at all (e.g. "file is not a database")."""


class ReplicaRefused(LedgerProblem):
    """A replica refused to sign: the checkpoint is not consistent with what it holds."""


class ReplicaDamaged(ReplicaCorrupt, ReplicaRefused):
    """A replica found that its own stored data does not recompute (or no longer matches
    what it signed): it refuses to sign and stays out of the quorum until repaired."""


class CheckpointError(LedgerProblem):
    """A checkpoint note is malformed or lacks enough good signatures."""


class ReceiptError(LedgerProblem):
    """A receipt is malformed or does not verify; the message says why."""


class KeyFileError(LedgerProblem):
    """A signing or verifying key is missing or malformed."""
