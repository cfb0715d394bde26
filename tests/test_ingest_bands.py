"""The near-copy look-up keys in their two tables (``mailworker.ingest.bands``): wherever a
key waits, a look-up finds exactly what one table held, and every band number moves in
turn, on SQLite and PostgreSQL alike."""
from __future__ import annotations

import random

import pytest

from mailworker import db as db_mod
from mailworker.ingest import bands
from mailworker.ingest.fingerprint import BAND_SHIFT, BANDS
from mailworker.models import RecentBand, TextBand


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, clock):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mailworker.db'}"
    else:
        url = request.getfixturevalue("pg").new_database(f"bands_{request.node.name}")
    d = db_mod.open_database(url, clock=clock)
    yield d
    d.close()


def _texts(rng: random.Random, count: int, shared: dict[int, int]) -> list[tuple[int, int]]:
    """Band rows of ``count`` texts: one key per band number, a few of them taken from
    earlier texts (``shared``: band number -> key), as a near-copy's are."""
    rows = []
    for _ in range(count):
        text = rng.getrandbits(63) - (1 << 62)          # text keys are signed
        for number in range(BANDS):
            if number in shared and rng.random() < 0.3:
                key = shared[number]
            else:
                key = number << BAND_SHIFT | rng.getrandbits(BAND_SHIFT)
            rows.append((key, text))
    return rows


def test_every_key_is_found_wherever_it_waits(database, clock):
    rng = random.Random(16)
    now = clock.now()
    shared = {n: n << BAND_SHIFT | rng.getrandbits(BAND_SHIFT) for n in range(BANDS)}
    stored: set[tuple[int, int]] = set()
    for batch in range(BANDS + 4):
        rows = _texts(rng, rng.randint(1, 6), shared)
        with database.atomic():
            bands.add(rows)
            bands.move_one(now)
        stored.update(rows)
        moved = batch % BANDS      # each batch moves the next band number, in turn
        assert not [b for (b,) in RecentBand.select(RecentBand.band).tuples()
                    if b >> BAND_SHIFT == moved]
        expected: dict[int, set[int]] = {}
        for key, text in stored:
            expected.setdefault(key, set()).add(text)
        absent = [n << BAND_SHIFT | rng.getrandbits(BAND_SHIFT) for n in range(BANDS)]
        found = bands.texts_by_band([key for key, _ in stored] + absent)
        assert found == {key: sorted(texts) for key, texts in expected.items()}
    assert RecentBand.select().count() and TextBand.select().count()
    assert any(len(texts) > 1 for texts in found.values())     # shared keys list every text
    for _ in range(BANDS):        # with nothing new, sixteen moves leave nothing waiting
        bands.move_one(now)
    assert RecentBand.select().count() == 0
    assert TextBand.select().count() == len(stored)


def test_a_key_in_both_tables_is_listed_once(database, clock):
    """A text's key written again (its credit decided once more) while the first copy
    already moved: one text, counted once for the shared-keys rule."""
    key, text = 3 << BAND_SHIFT | 12345, 77
    bands.add([(key, text)])
    for _ in range(BANDS):
        bands.move_one(clock.now())
    bands.add([(key, text)])
    assert TextBand.select().count() == 1 and RecentBand.select().count() == 1
    assert bands.texts_by_band([key]) == {key: [text]}
