"""Outbound mail: everything mailworker sends.

- ``sender``: drains the outbox (``drain_outbox``), retries, rate limit, SIZE check.
- ``transport``: the seam mail leaves through (``FileTransport``, ``SmtpTransport``).
- ``compose`` / ``templates``: one outbox row into one MIME mail.
- ``digest`` / ``schedule``: the staff's daily digest and its timing.
- ``notices``: notices from the secretariat to members.
- ``packages`` / ``release``: per-member encrypted installer packages.
- ``cli``: ``mailworker outbox|notice|release|digest``.

Rows are queued with the core ``mailworker.outbox.enqueue`` (so ingest never imports us).
"""
