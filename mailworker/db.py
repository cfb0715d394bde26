"""Open the database named by the configuration and bring its schema up to date.

SQLite (WAL, full sync) is the default; ``postgresql://`` URLs go through
``playhouse.db_url``. Migrations are numbered functions applied in order and recorded in
``schema_version``, so an upgrade never needs a manual step.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

import peewee as pw
from playhouse.db_url import connect as url_connect
from playhouse import migrate as migrate_ops
from playhouse.migrate import SchemaMigrator

from . import models
from .clock import Clock, SystemClock, naive_utc
from .private import private_dir, private_file
from .errors import DatabaseError


WAL_AUTOCHECKPOINT = 1000   # SQLite's default, in pages
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",     # a committed message survives power loss before we MOVE it
    "foreign_keys": 1,
    "busy_timeout": 15000,
}


def _migration_1(db: pw.Database, migrator: SchemaMigrator) -> None:
    db.create_tables(models.ALL_TABLES)


def _migration_2(db: pw.Database, migrator: SchemaMigrator) -> None:
    """Fewer indexes to keep up on every recorded message (each costs time per insert):
    drop those nothing queries, make the sender's two outbox indexes one, and drop
    ``message.filed``, which was rewritten for every message and never read (the inbox
    itself says what is still to be filed). Written to be a no-op where migration 1
    already created the tables in their new shape."""
    for name in ("message_sender", "outbox_member_id", "outbox_after_id", "outbox_status",
                 "outbox_not_before"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "outbox_status_not_before" '
                   'ON "outbox" ("status", "not_before")')
    if any(c.name == "filed" for c in db.get_columns("message")):
        migrate_ops.migrate(migrator.drop_column("message", "filed"))


def _migration_3(db: pw.Database, migrator: SchemaMigrator) -> None:
    """Sketches of credited texts and their band keys, for near-copy look-ups (issue 10).
    Texts credited before this version have no sketch, and their ``message.body_sha256``
    is of the older normal form: ingest looks that form up too, so a verbatim resend of
    such a text is still found (``ingest.fingerprint.TextPrint.legacy_sha``).

    ``text_band`` holds sixteen rows per credited text: on SQLite it is made WITHOUT
    ROWID, so the primary key is the table and each row costs two integers."""
    db.create_tables([models.CreditedText], safe=True)
    bigint = "INTEGER" if isinstance(db, pw.SqliteDatabase) else "BIGINT"
    shape = " WITHOUT ROWID" if isinstance(db, pw.SqliteDatabase) else ""
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "text_band" ("band" {bigint} NOT NULL, '
                   f'"text_key" {bigint} NOT NULL, PRIMARY KEY ("band", "text_key")){shape}')


def _add_missing_columns(db: pw.Database, migrator: SchemaMigrator, model, names) -> None:
    have = {c.name for c in db.get_columns(model._meta.table_name)}
    ops = [migrator.add_column(model._meta.table_name, model._meta.fields[n].column_name,
                               model._meta.fields[n])
           for n in names if model._meta.fields[n].column_name not in have]
    if ops:
        migrate_ops.migrate(*ops)


def _migration_7(db: pw.Database, migrator: SchemaMigrator) -> None:
    """Meetings, RSVPs, attendance, quality scores and hour-export batches; the References
    and the meeting answer of a message (written by ingest, read by the group step); the
    member's volunteer-portal ID. A no-op where migration 1 made them already."""
    db.create_tables(models.GROUP_TABLES, safe=True)
    _add_missing_columns(db, migrator, models.Message, ("thread_refs", "rsvp_answer"))
    _add_missing_columns(db, migrator, models.Member, ("volunteer_id",))


def _migration_6(db: pw.Database, migrator: SchemaMigrator) -> None:
    """The group's life cycle: recruitment rounds, applications, vacancies, and the
    member's contact-purge stamp. A no-op where migration 1 already made them."""
    db.create_tables(models.LIFECYCLE_TABLES, safe=True)
    _add_missing_columns(db, migrator, models.Member, ("contact_purged_at",))


def _migration_8(db: pw.Database, migrator: SchemaMigrator) -> None:
    """Staff actions by mail and the audit trail: the staff requests ingest reads and the
    audit entries. A no-op where migration 1 already created them."""
    db.create_tables([models.StaffRequest, models.AuditEntry], safe=True)


def _migration_9(db: pw.Database, migrator: SchemaMigrator) -> None:
    """The SHA-256 of a sent mail's bytes and when its template values were cleared
    (``[outgoing] keep_sent_days``). A no-op where migration 1 made them already."""
    _add_missing_columns(db, migrator, models.Outbox, ("sent_sha256", "pruned_at"))


def _migration_10(db: pw.Database, migrator: SchemaMigrator) -> None:
    """A member's hours are summed from one index (member, time, hours) instead of walking
    the member's rows: the ingest pass reads each sender's day and half-year, and the rows
    it visited grew with every hour ever credited. The member-only index it replaces is
    its prefix. A no-op where migration 1 made the new shape."""
    db.execute_sql('CREATE INDEX IF NOT EXISTS "hour_credit_member_id_credited_at_hours" '
                   'ON "hour_credit" ("member_id", "credited_at", "hours")')
    db.execute_sql('DROP INDEX IF EXISTS "hour_credit_member_id"')


def _migration_11(db: pw.Database, migrator: SchemaMigrator) -> None:
    """New band keys wait in a small table of the same shape as ``text_band`` and move
    into it a band number at a time (``ingest.bands``). Keys already stored stay where
    they are; the new table starts empty."""
    bigint = "INTEGER" if isinstance(db, pw.SqliteDatabase) else "BIGINT"
    shape = " WITHOUT ROWID" if isinstance(db, pw.SqliteDatabase) else ""
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "text_band_recent" ("band" {bigint} NOT NULL, '
                   f'"text_key" {bigint} NOT NULL, PRIMARY KEY ("band", "text_key")){shape}')


# version -> function(db, migrator). Append only; never edit a released migration.
# Numbers may have gaps (parallel branches get numbers in advance); they run in order.
MIGRATIONS: dict[int, Callable[[pw.Database, SchemaMigrator], None]] = {
    1: _migration_1,
    2: _migration_2,
    3: _migration_3,
    6: _migration_6,
    7: _migration_7,
    8: _migration_8,
    9: _migration_9,
    10: _migration_10,
    11: _migration_11,
}


def make_database(url: str, base_dir: Path | None = None,
                  password: str | None = None) -> pw.Database:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):]).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            private_dir(path.parent)
        except OSError as exc:
            raise DatabaseError(f"{path.parent}: cannot create the database folder: "
                                f"{exc.strerror}") from None
        try:
            private_file(path)      # 0600, and so are the -wal/-shm SQLite adds
        except OSError as exc:
            raise DatabaseError(f"{path}: cannot create the database file: "
                                f"{exc.strerror}") from None
        # BEGIN IMMEDIATE: a transaction takes the write lock when it starts, so it waits
        # its turn (busy timeout) instead of failing when it reads, another process
        # (a staff command) writes, and it then wants to write too.
        return pw.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, timeout=15,
                                 lock_type="IMMEDIATE")
    _need_driver(url)
    # The password comes from [database] password_file/_env, never from the URL text.
    extra = {"password": password} if password is not None else {}
    try:
        return url_connect(url, **extra)
    except (ValueError, RuntimeError, ImportError) as exc:
        raise DatabaseError(f"[database] url: cannot use {redact_url(url)}: {exc}") from None


# URL scheme -> (Python module of the driver, the pip extra that installs it)
DRIVERS = {"postgres": ("psycopg2", "postgres"), "postgresql": ("psycopg2", "postgres"),
           "postgresext": ("psycopg2", "postgres"), "postgresqlext": ("psycopg2", "postgres")}


def _need_driver(url: str) -> None:
    """Say which package to install before peewee fails at connect time with a bare
    ``ImproperlyConfigured``."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in DRIVERS:
        return
    module, extra = DRIVERS[scheme]
    try:
        __import__(module)
    except ImportError:
        raise DatabaseError(f"[database] url is a PostgreSQL database, but its driver "
                            f"({module}) is not installed: pip install 'mailworker[{extra}]' "
                            "in mailworker's virtualenv") from None


def redact_url(url: str) -> str:
    """A database URL with any password replaced, safe to log."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def current_version(db: pw.Database) -> int:
    if not db.table_exists("schema_version"):
        return 0
    row = db.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()
    return (row[0] if row else 0) or 0


def migrate(db: pw.Database, clock: Clock | None = None) -> int:
    """Apply missing migrations; return the schema version now in force."""
    clock = clock or SystemClock()
    migrator = SchemaMigrator.from_database(db)
    have = current_version(db)
    latest = max(MIGRATIONS)
    if have > latest:
        raise DatabaseError(f"the database schema is version {have}, newer than this "
                            f"mailworker knows ({latest}); upgrade mailworker")
    # Every migration not yet recorded, in order: numbers may have gaps, and a database
    # upgraded by a build that lacked one still gets it (each is written to be safe on
    # any later shape).
    applied = set(db.execute_sql("SELECT version FROM schema_version").fetchall()
                  if db.table_exists("schema_version") else [])
    applied = {row[0] for row in applied}
    for version in sorted(v for v in MIGRATIONS if v not in applied):
        with db.atomic():
            MIGRATIONS[version](db, migrator)
            models.SchemaVersion.create(version=version, applied_at=naive_utc(clock.now()))
    return latest


def open_database(url: str, base_dir: Path | None = None, clock: Clock | None = None,
                  password: str | None = None) -> pw.Database:
    """Connect, bind the models, migrate. The returned database is ready to use."""
    db = make_database(url, base_dir, password)
    try:
        db.connect(reuse_if_open=True)
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open the database {redact_url(url)}: {exc}") from None
    models.db_proxy.initialize(db)
    try:
        migrate(db, clock)
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot migrate the database {redact_url(url)}: {exc}") from None
    return db


def open_from_config(cfg, clock: Clock | None = None) -> pw.Database:
    password = (cfg.secret_text("database", "password")
                if cfg.has_secret("database", "password") else None)
    return open_database(cfg.database.url, cfg.base_dir, clock, password)


# --- small State helpers ---------------------------------------------------------------

def state_get(key: str, default: str | None = None) -> str | None:
    row = models.State.get_or_none(models.State.key == key)
    return row.value if row else default


def state_set(key: str, value: str, now: dt.datetime) -> None:
    (models.State.insert(key=key, value=value, updated_at=naive_utc(now))
     .on_conflict(conflict_target=[models.State.key],
                  update={models.State.value: value, models.State.updated_at: naive_utc(now)})
     .execute())
