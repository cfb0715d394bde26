"""The four-replica Merkle ledger: hashes and pseudonyms only, never personal data.

Decisions, in one place:

- **Leaves** are canonical JSON: UTF-8, keys sorted, no spaces (``mailworker.events.
  canonical_json``), chosen over CBOR because anyone can read and re-encode it with a
  standard library. A contribution leaf is ``{"hours","kind","member","msg_sha256","time",
  "type","v"}``: the message's SHA-256, review/proposal, hours, UTC time and the keyed
  pseudonym (HMAC-SHA256) of the member. No address, name, subject or text.
- **Tree**: RFC 9162 hashing (``merkle.py``, standard library only, the reference);
  the stored tree keeps complete-subtree hashes in tiles of height 8 (``tree.py``), so
  appends and proofs are O(log n) reads whatever the size.
- **Replicas**: four independent stores (``store.py``: SQLite files by default, or any
  PostgreSQL database by URL, or a replica on another host over HTTP: ``remote.py``,
  ``server.py``), each with its own Ed25519 key (``keys.py``). A replica signs only a
  tree it holds, consistent with what it signed before (``replica.py``).
- **Checkpoints** are C2SP signed notes (``checkpoint.py``), valid with at least
  ``[ledger] quorum`` (3 of 4) good signatures.
- **Appender** (``appender.py``): pending ``ledger_event`` rows go to every usable
  replica; at quorum the events are marked in the main database in the same transaction
  that stores the checkpoint. Crash-safe at every step. Its parts: ``catchup.py`` (a
  lagging replica copies what it lacks), ``pending.py`` (the events in the main database),
  ``batches.py`` (planning), ``fanout.py`` (all replicas at once), ``recorder.py`` (the
  main database records on its own thread). Every replica, local or remote, is a
  ``replica.Replica``.
- **Status, verify, repair, receipts**: ``status.py``, ``audit.py``, ``receipt.py``.

Entry points for the rest of mailworker: ``appender.append_pending``,
``layout.ensure_embedded_keys``, ``keys.pseudonym_key``, ``status.ledger_status``,
``receipt.build_receipt`` and ``receipt.verify_receipt``.
"""
