"""The group's steps that the service runs after each ingest pass.

Each step is a function ``step(cfg, clock) -> str`` (a short summary, '' when it did
nothing) that reads what ingest committed and writes the group's rows and outbox mail in
its own transactions, so a crash is recovered by running it again. A step must be cheap
when there is nothing to do: it runs every round.
"""
from __future__ import annotations

import logging
from typing import Callable

from ..errors import MailworkerError

log = logging.getLogger(__name__)

Step = Callable[..., str]

# Filled by the group's modules (recruitment, meetings, ...), in the order they run.
STEPS: list[tuple[str, Step]] = []


def run_group_steps(cfg, clock) -> list[str]:
    """Run every step; one step's configuration trouble is reported, not fatal to others."""
    done = []
    for name, step in STEPS:
        try:
            summary = step(cfg, clock)
        except MailworkerError as exc:
            log.error("group step %s: %s", name, exc)
            done.append(f"{name}: {exc}")
            continue
        if summary:
            done.append(f"{name}: {summary}")
    return done


# The meeting steps: answers are tied to meetings before reminders look for the silent.
from . import rsvp as _rsvp  # noqa: E402  (rsvp needs nothing from this module)

STEPS.append(("meeting answers", _rsvp.match_new_replies))
STEPS.append(("meeting reminders", _rsvp.queue_reminders))

# The group's life cycle (issue 12): application mail first, so an offer reply is seen
# before its offer could expire; the purge last.
from .purge import purge_step  # noqa: E402
from .recruitment import application_step  # noqa: E402
from .terms import term_step  # noqa: E402
from .vacancies import resignation_step, vacancy_step  # noqa: E402

STEPS += [("applications", application_step), ("resignations", resignation_step),
          ("vacancies", vacancy_step), ("term", term_step), ("purge", purge_step)]
