"""Schema migrations and transactions on a real SQLite file and a real private PostgreSQL."""
from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest

from mailworker import db as db_mod
from mailworker import models
from mailworker.config import write_secret_file
from mailworker.errors import DatabaseError, SecretError


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'mailworker.db'}"
    pg = request.getfixturevalue("pg")
    return pg.new_database(f"test_db_{request.node.name}")


def table_names() -> set[str]:
    return {m._meta.table_name for m in models.ALL_TABLES}


def test_fresh_database_gets_every_table_and_the_version(db_url, clock):
    database = db_mod.open_database(db_url, clock=clock)
    try:
        assert table_names() <= set(database.get_tables())
        rows = list(models.SchemaVersion.select().order_by(models.SchemaVersion.version))
        assert [r.version for r in rows] == sorted(db_mod.MIGRATIONS)
        assert rows[-1].applied_at == clock.now().replace(tzinfo=None)
        assert db_mod.current_version(database) == max(db_mod.MIGRATIONS)
    finally:
        database.close()


def test_reopening_is_a_no_op(db_url, clock):
    db_mod.open_database(db_url, clock=clock).close()
    clock.advance(days=1)
    database = db_mod.open_database(db_url, clock=clock)
    try:
        rows = list(models.SchemaVersion.select())
        assert len(rows) == len(db_mod.MIGRATIONS)
        # The recorded time is still the first opening's: nothing was applied again.
        assert all(r.applied_at == (clock.now() - dt.timedelta(days=1)).replace(tzinfo=None)
                   for r in rows)
    finally:
        database.close()


def test_newer_schema_is_refused_with_a_clear_message(db_url, clock):
    database = db_mod.open_database(db_url, clock=clock)
    models.SchemaVersion.create(version=max(db_mod.MIGRATIONS) + 5,
                                applied_at=clock.now().replace(tzinfo=None))
    database.close()
    with pytest.raises(DatabaseError, match=r"newer than this mailworker knows.*upgrade"):
        db_mod.open_database(db_url, clock=clock)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path, clock):
    database = db_mod.open_database(f"sqlite:///{tmp_path / 'wal.db'}", clock=clock)
    try:
        assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert (tmp_path / "wal.db-wal").exists()
    finally:
        database.close()


def test_relative_sqlite_path_is_taken_from_the_config_folder(make_config, tmp_path, clock):
    cfg = make_config({"database": {"url": "sqlite:///state/mw.db"}})
    database = db_mod.open_from_config(cfg, clock)
    database.close()
    assert (tmp_path / "state" / "mw.db").exists()


def _member(now):
    m = models.Member.create(uuid="uuid-1", display_name="김민지", category="student",
                             created_at=now)
    models.MemberAddress.create(member=m, email="minji@example.org", is_primary=True)
    return m


def _message(now, member, sha="a" * 64):
    return models.Message.create(
        sha256=sha, message_id=f"<{sha[:8]}@example.org>", source="maildir:/x", uid="1",
        sender="minji@example.org", subject="[품평] 앱 설치 오류", received_at=now,
        kind="review", disposition="credited", reason="review from a member", member=member)


def test_one_transaction_and_unique_constraints(db_url, clock):
    database = db_mod.open_database(db_url, clock=clock)
    now = clock.now().replace(tzinfo=None)
    try:
        with database.atomic():
            member = _member(now)
            msg = _message(now, member)
            models.HourCredit.create(message=msg, member=member, kind="review", credited_at=now)
            models.LedgerEvent.create(event_type="contribution", payload="{}",
                                      dedup_key=f"contribution:{msg.sha256}", created_at=now)

        # A second credit for the same message is refused by the database itself.
        with pytest.raises(pw.IntegrityError):
            with database.atomic():
                models.HourCredit.create(message=msg, member=member, kind="review",
                                         credited_at=now)
        # The same content hash cannot be recorded twice.
        with pytest.raises(pw.IntegrityError):
            with database.atomic():
                _message(now, member)
        # A transaction that fails half-way leaves nothing behind.
        with pytest.raises(RuntimeError):
            with database.atomic():
                other = _message(now, member, sha="b" * 64)
                models.HourCredit.create(message=other, member=member, kind="review",
                                         credited_at=now)
                raise RuntimeError("crash before commit")

        assert models.Message.select().count() == 1
        assert models.HourCredit.select().count() == 1
        assert models.LedgerEvent.select().count() == 1
        assert models.Message.get().subject == "[품평] 앱 설치 오류"
        assert models.Member.get().display_name == "김민지"
    finally:
        database.close()


def test_version_1_database_is_upgraded_in_place(db_url, clock):
    """A database made by the first release (schema 1: ``message.filed`` and five more
    indexes) reaches schema 2 when opened, keeping its rows."""
    database = db_mod.open_database(db_url, clock=clock)
    now = clock.now().replace(tzinfo=None)
    # Put the version-1 shape back: the column, the old indexes, the version.
    database.execute_sql("ALTER TABLE message ADD COLUMN filed BOOLEAN NOT NULL DEFAULT FALSE")
    database.execute_sql('DROP INDEX "outbox_status_not_before"')
    for name, table, column in (("message_sender", "message", "sender"),
                                ("outbox_member_id", "outbox", "member_id"),
                                ("outbox_after_id", "outbox", "after_id"),
                                ("outbox_status", "outbox", "status"),
                                ("outbox_not_before", "outbox", "not_before")):
        database.execute_sql(f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
    models.SchemaVersion.delete().where(models.SchemaVersion.version > 1).execute()
    kept = _message(now, _member(now))
    database.close()

    database = db_mod.open_database(db_url, clock=clock)
    try:
        assert db_mod.current_version(database) == max(db_mod.MIGRATIONS)
        assert "filed" not in {c.name for c in database.get_columns("message")}
        indexes = {i.name for t in ("message", "outbox") for i in database.get_indexes(t)}
        assert "outbox_status_not_before" in indexes
        # the indexes that stay (above all the one that keeps content hashes unique)
        # survive the column's removal
        message_indexes = {i.name: i.unique for i in database.get_indexes("message")}
        assert message_indexes.get("message_sha256") is True
        assert {"message_message_id", "message_received_at", "message_disposition",
                "message_member_id", "message_body_sha256"} <= set(message_indexes)
        assert not indexes & {"message_sender", "outbox_member_id", "outbox_after_id",
                              "outbox_status", "outbox_not_before"}
        assert models.Message.get_by_id(kept.id).subject == "[품평] 앱 설치 오류"
    finally:
        database.close()


def test_version_2_database_gets_the_credited_text_tables(db_url, clock):
    """Schema 2 (before near-copy look-ups) reaches schema 3 keeping its rows; the new
    tables work, their band index included."""
    database = db_mod.open_database(db_url, clock=clock)
    now = clock.now().replace(tzinfo=None)
    database.drop_tables([models.TextBand, models.CreditedText])
    models.SchemaVersion.delete().where(models.SchemaVersion.version > 2).execute()
    kept = _message(now, _member(now))
    database.close()

    database = db_mod.open_database(db_url, clock=clock)
    try:
        assert db_mod.current_version(database) == max(db_mod.MIGRATIONS)
        assert {"credited_text", "text_band"} <= set(database.get_tables())
        if isinstance(database, pw.SqliteDatabase):      # the band table is its own index
            sql = database.execute_sql("SELECT sql FROM sqlite_master WHERE name = "
                                       "'text_band'").fetchone()[0]
            assert sql.rstrip().endswith("WITHOUT ROWID")
        key = models.text_key(kept.sha256)
        models.CreditedText.create(key=key, msg_sha256=kept.sha256, member=kept.member,
                                   signature=b"\x00" * 256)
        models.TextBand.insert(band=-(1 << 62), text=key).execute()
        with pytest.raises(pw.IntegrityError):                # one row per band and text
            with database.atomic():
                models.TextBand.insert(band=-(1 << 62), text=key).execute()
        assert models.TextBand.get().band == -(1 << 62)
        assert (models.TextBand.select(models.CreditedText.msg_sha256)
                .join(models.CreditedText, on=models.CreditedText.key == models.TextBand.text)
                .scalar()) == kept.sha256
        assert models.Message.get_by_id(kept.id).subject == "[품평] 앱 설치 오류"
    finally:
        database.close()
    # opening again changes nothing (the migration ran once)
    database = db_mod.open_database(db_url, clock=clock)
    try:
        assert models.TextBand.select().count() == 1
    finally:
        database.close()


def test_version_9_database_sums_hours_from_one_index_and_gets_the_waiting_band_keys(
        db_url, clock):
    """Schema 9 (hours summed through the member-only index, band keys written straight
    into ``text_band``) reaches schema 11 keeping its rows: the (member, time, hours)
    index replaces the member one, new band keys wait in ``text_band_recent``, and the
    keys stored before are still found."""
    import zoneinfo

    from mailworker.ingest import bands
    from mailworker.ingest.credit import CreditHistory
    database = db_mod.open_database(db_url, clock=clock)
    now = clock.now().replace(tzinfo=None)
    database.execute_sql('DROP TABLE "text_band_recent"')
    database.execute_sql('DROP INDEX "hour_credit_member_id_credited_at_hours"')
    database.execute_sql('CREATE INDEX "hour_credit_member_id" ON "hour_credit" ("member_id")')
    models.SchemaVersion.delete().where(models.SchemaVersion.version > 9).execute()
    member = _member(now)
    msg = _message(now, member)
    models.HourCredit.create(message=msg, member=member, kind="review", credited_at=now)
    models.TextBand.insert(band=5 << 56 | 1, text=7).execute()
    database.close()

    database = db_mod.open_database(db_url, clock=clock)
    try:
        assert db_mod.current_version(database) == max(db_mod.MIGRATIONS)
        names = {i.name for i in database.get_indexes("hour_credit")}
        assert "hour_credit_member_id_credited_at_hours" in names
        assert "hour_credit_member_id" not in names
        assert "text_band_recent" in database.get_tables()
        if isinstance(database, pw.SqliteDatabase):
            sql = database.execute_sql("SELECT sql FROM sqlite_master WHERE name = "
                                       "'text_band_recent'").fetchone()[0]
            assert sql.rstrip().endswith("WITHOUT ROWID")
        tally = CreditHistory(zoneinfo.ZoneInfo("Asia/Seoul")).tally(member, clock.now())
        assert (tally.today, tally.half_year) == (1, 1)
        bands.add([(6 << 56 | 1, 7), (5 << 56 | 1, 8)])
        assert bands.texts_by_band([5 << 56 | 1, 6 << 56 | 1, 9]) == {
            5 << 56 | 1: [7, 8], 6 << 56 | 1: [7]}
    finally:
        database.close()


def test_address_belongs_to_one_member_only(db_url, clock):
    database = db_mod.open_database(db_url, clock=clock)
    now = clock.now().replace(tzinfo=None)
    try:
        _member(now)
        other = models.Member.create(uuid="uuid-2", display_name="Lee", category="citizen",
                                     created_at=now)
        with pytest.raises(pw.IntegrityError):
            with database.atomic():
                models.MemberAddress.create(member=other, email="minji@example.org")
    finally:
        database.close()


def test_postgres_password_comes_from_a_secret_file(pg, make_config, tmp_path, clock):
    url = pg.new_database("password_secret")
    user = pg.ensure_password_user()
    pg.grant_database(url.rsplit("/", 1)[1], user)
    user_url = url.replace(f"//{pg.user}@", f"//{user}@")

    secret = tmp_path / "db-password"
    write_secret_file(secret, pg.password.encode() + b"\n")
    cfg = make_config({"database": {"url": user_url, "password_file": str(secret)}})
    database = db_mod.open_from_config(cfg, clock)
    try:
        assert table_names() <= set(database.get_tables())
    finally:
        database.close()

    write_secret_file(secret, b"wrong-password")
    with pytest.raises(DatabaseError) as err:
        db_mod.open_from_config(cfg, clock)
    assert "password authentication failed" in str(err.value)
    assert "wrong-password" not in str(err.value)

    secret.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        db_mod.open_from_config(cfg, clock)


def test_unreachable_postgres_is_a_clear_error(clock):
    from tests.servers.ports import free_port
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DatabaseError, match=r"cannot open the database postgresql://nobody@"):
        db_mod.open_database(url, clock=clock)


def test_redact_url_hides_passwords():
    assert db_mod.redact_url("postgresql://u:s3cret@db.example.org/mw") == \
        "postgresql://u:***@db.example.org/mw"
    assert db_mod.redact_url("postgresql://u@db/mw") == "postgresql://u@db/mw"
    assert db_mod.redact_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_a_migration_missing_from_an_upgraded_database_is_still_applied(tmp_path, clock,
                                                                        monkeypatch):
    """Branches take numbers of their own: a database that has 8 but not 5 gets 5 later."""
    url = f"sqlite:///{tmp_path / 'gap.db'}"
    d = db_mod.open_database(url, clock=clock)
    have = {v for (v,) in d.execute_sql("SELECT version FROM schema_version").fetchall()}
    assert have == set(db_mod.MIGRATIONS)
    d.close()
    ran = []
    late = max(db_mod.MIGRATIONS) - 1 if max(db_mod.MIGRATIONS) - 1 not in have else 99
    monkeypatch.setitem(db_mod.MIGRATIONS, late, lambda db, migrator: ran.append(late))
    d = db_mod.open_database(url, clock=clock)
    try:
        assert ran == [late]
        versions = {v for (v,) in d.execute_sql("SELECT version FROM schema_version")}
        assert late in versions
    finally:
        d.close()
    d = db_mod.open_database(url, clock=clock)      # and only once
    d.close()
    assert ran == [late]
