"""Where the near-copy look-up keys are kept: sixteen per credited text (one per band of
its sketch, see ``fingerprint``), in two tables.

The keys are random, so once the band index is larger than what a batch writes, nearly
every key written lands on a page of its own, and the batch's commit (and the copy of the
log into the database after it) rewrites thousands of pages: the cost of a batch grew with
the number of texts ever credited. So a batch's keys go into a small table of the same
shape (``RecentBand``), where they share pages, and each batch moves the keys of one band
number (a sixteenth of the key space: the key's top byte) into the large table
(``TextBand``) in key order, many to a page. Every text adds one key to each band number,
so the band numbers fill evenly and each waits at most sixteen batches for its move. A
look-up reads both tables: together they hold exactly the keys one table held before.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from ..db import state_get, state_set
from ..models import RecentBand, TextBand
from ..prepared import insert_many, select_in
from .fingerprint import BAND_SHIFT, BANDS

CHUNK = 4096                   # keys per look-up query (SQLite allows 32766 parameters)
NEXT_MOVE = "text_band:next"   # State: the band number the next batch moves


def add(rows: Iterable[tuple[int, int]]) -> None:
    """Store (band key, text key) rows; in key order, so neighbours share a page."""
    insert_many(RecentBand, [{"band": band, "text": key} for band, key in sorted(rows)],
                on_conflict_ignore=True)


def texts_by_band(keys: Iterable[int]) -> dict[int, list[int]]:
    """For each of these band keys that is stored: the texts that have it, in text-key
    order (as one table kept them)."""
    keys = sorted(set(keys))
    found: dict[int, set[int]] = {}
    for model in (TextBand, RecentBand):
        for band, text in select_in((model.band, model.text), model.band, keys, CHUNK):
            found.setdefault(band, set()).add(text)
    return {band: sorted(texts) for band, texts in found.items()}


def move_one(now: dt.datetime) -> None:
    """Move one band number's waiting keys into the large table (the next in turn)."""
    number = int(state_get(NEXT_MOVE) or 0) % BANDS
    low, high = number << BAND_SHIFT, (number + 1) << BAND_SHIFT
    waiting = (RecentBand.band >= low) & (RecentBand.band < high)
    (TextBand.insert_from(RecentBand.select(RecentBand.band, RecentBand.text).where(waiting)
                          .order_by(RecentBand.band, RecentBand.text),
                          [TextBand.band, TextBand.text])
     .on_conflict_ignore().execute())
    RecentBand.delete().where(waiting).execute()
    state_set(NEXT_MOVE, str((number + 1) % BANDS), now)
