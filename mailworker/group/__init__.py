"""The group's administration: roster and terms, recruitment rounds, meetings, allowances,
the half-year ranking, hour exports.

It meets the mail stages through the database (models in the core), as they meet each
other: ingest records what arrived, a group step turns it into the group's own rows and
queues its mails in the outbox, the outbound sender sends them.
"""

from . import actions  # noqa: E402,F401  (registers the group's digest actions)
