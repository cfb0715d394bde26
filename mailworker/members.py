"""The member roster: import from the staff's CSV, add one member, look a sender up.

A roster CSV is what the secretariat keeps in Excel: one row per member with name, e-mail,
category (English key or the Korean label), optionally extra addresses and language.
Every row is checked before anything is written, and the import is one transaction, so a
file with a bad row changes nothing. Importing the same file again is harmless.
"""
from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from .clock import Clock, naive_utc
from .errors import ImportRowsError, MailworkerError, RosterFileError
from .models import (CATEGORIES, CATEGORY_KO, MEMBER_STATUSES, Member, MemberAddress, Message,
                     db_proxy)
from .safetext import control_characters

# Seats per category in the plan (100 in all). Going over is reported, not refused:
# the secretariat decides.
QUOTAS = {"student": 40, "citizen": 30, "developer": 20, "business": 10}

_CATEGORY_LABELS = {
    "student": "student", "students": "student", "대학생": "student",
    "citizen": "citizen", "citizens": "citizen", "일반시민": "citizen", "일반인": "citizen",
    "developer": "developer", "developers": "developer", "블록체인개발자": "developer",
    "개발자": "developer",
    "business": "business", "businessperson": "business", "블록체인기업인": "business",
    "기업인": "business",
}

_LANGUAGES = {"ko": "ko", "korean": "ko", "한국어": "ko", "kor": "ko",
              "en": "en", "english": "en", "영어": "en", "eng": "en"}

# Header cell (lower-cased, spaces removed) -> column. Korean headers as staff write them.
_COLUMNS = {
    "name": "name", "displayname": "name", "이름": "name", "성명": "name",
    "email": "email", "e-mail": "email", "mail": "email", "이메일": "email",
    "메일": "email", "전자우편": "email",
    "category": "category", "분야": "category", "구분": "category", "유형": "category",
    "aliases": "aliases", "alias": "aliases", "extra_emails": "aliases",
    "extraemails": "aliases", "추가이메일": "aliases", "별칭": "aliases",
    "language": "language", "lang": "language", "언어": "language",
    "volunteer_id": "volunteer_id", "volunteerid": "volunteer_id", "봉사포털id": "volunteer_id",
    "1365id": "volunteer_id", "봉사id": "volunteer_id",
}
REQUIRED_COLUMNS = ("name", "email", "category")

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")
_SPLIT_ADDRESSES = re.compile(r"[;,\s]+")


class RosterError(MailworkerError):
    """A member cannot be added or found as asked."""


@dataclass
class RosterRow:
    line: int
    name: str
    email: str
    category: str
    aliases: list[str]
    language: str | None      # None: column absent or empty (keep / default "ko")
    volunteer_id: str | None = None   # volunteer-centre portal ID; None: absent (keep)


@dataclass
class ImportReport:
    path: Path
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    addresses_added: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.path}: {self.rows} row(s): {self.created} created, "
                f"{self.updated} updated, {self.unchanged} unchanged")


# --- small parsers ------------------------------------------------------------------------

def normalize_email(text: str) -> str:
    """Lower-cased bare address; accepts 'Name <addr>' as mail clients paste it."""
    text = (text or "").strip()
    if "<" in text:
        text = parseaddr(text)[1]
    return text.strip().lower()


def is_valid_email(addr: str) -> bool:
    return bool(_EMAIL.match(addr)) and ".." not in addr and not addr.startswith(".")


def parse_category(text: str) -> str | None:
    """English key or Korean label -> category key, or None if unknown."""
    return _CATEGORY_LABELS.get(re.sub(r"\s+", "", (text or "")).lower())


def parse_language(text: str) -> str | None:
    return _LANGUAGES.get((text or "").strip().lower())


def control_problem(what: str, text: str) -> str:
    """Why ``text`` cannot be stored (control characters such as a line break inside a
    cell would end up in mail headers), or ''."""
    found = control_characters(text)
    if not found:
        return ""
    return (f"{what} contains control character(s) {', '.join(found)} (a line break or "
            "tab inside the cell?); write it on one line without them")


def category_label(category: str) -> str:
    """'대학생 (student)' for tables people read."""
    return f"{CATEGORY_KO.get(category, category)} ({category})"


def _accepted_categories() -> str:
    return ", ".join(f"{c} / {CATEGORY_KO[c]}" for c in CATEGORIES)


# --- reading the CSV ----------------------------------------------------------------------

def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise RosterFileError(path, "this is an Excel workbook (.xlsx/.xls), not CSV; in Excel "
                                    "use 'Save as' → 'CSV UTF-8 (쉼표로 분리)'")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Korean Excel's plain "CSV (쉼표로 분리)" is cp949, not UTF-8.
    try:
        return raw.decode("cp949")
    except UnicodeDecodeError:
        raise RosterFileError(path, "the file is neither UTF-8 nor cp949 text; in Excel use "
                                    "'Save as' → 'CSV UTF-8 (쉼표로 분리)'") from None


def _delimiter(text: str) -> str:
    """',' normally; ';' or a tab when the header line has those and no comma (Excel saves
    CSV with ';' where the system's list separator is ';', and some tools save tabs)."""
    header = text.split("\n", 1)[0]
    if "," in header:
        return ","
    for candidate in (";", "\t"):
        if candidate in header:
            return candidate
    return ","


@dataclass
class Roster:
    rows: list[RosterRow]
    ignored_columns: list[str]


def read_roster(path: str | Path) -> Roster:
    """Parse and check every row of a roster CSV (no database needed).

    Raises ``ImportRowsError`` listing every bad row by line number. Columns we do not use
    (a phone number, notes) are ignored and named in ``ignored_columns``: we keep no
    personal data we do not need."""
    roster, problems = _parse_roster(Path(path))
    if problems:
        raise ImportRowsError(path, problems)
    return roster


def _parse_roster(path: Path) -> tuple[Roster, list[tuple[int, str]]]:
    """The good rows and the (line, why) of the bad ones. File-level faults raise."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MailworkerError(f"{path}: roster file not found") from None
    except OSError as exc:
        raise MailworkerError(f"{path}: cannot read the roster file: {exc.strerror}") from None
    text = _decode(path, raw)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterFileError(path, "the file is empty; the first line must be the header: "
                                    "name,email,category") from None
    except csv.Error as exc:
        raise ImportRowsError(path, [(1, f"not readable as CSV: {exc}")]) from None

    columns: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[tuple[int, str]] = []
    for index, cell in enumerate(header):
        key = re.sub(r"\s+", "", cell).lower()
        if not key:
            continue
        column = _COLUMNS.get(key)
        if column is None:
            ignored.append(cell.strip())
        elif column in columns:
            problems.append((1, f"column {column!r} appears twice"))
        else:
            columns[column] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append((1, "missing column(s): " + ", ".join(missing)
                         + " (the first line must name the columns: name,email,category)"))
    if problems:
        raise ImportRowsError(path, problems)

    rows: list[RosterRow] = []
    seen: dict[str, int] = {}  # address -> line that first used it
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines Excel leaves at the end
            row_problems = []

            def cell(column: str) -> str:
                i = columns.get(column)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            extra = [c for c in cells[len(header):] if c.strip()]
            if extra:
                row_problems.append(f"more values than the header has columns: {extra!r} "
                                    "(a comma inside a name needs quotes)")
            name = cell("name")
            if not name:
                row_problems.append("name is empty")
            for column in columns:
                problem = control_problem(column, cell(column))
                if problem:
                    row_problems.append(problem)
            email_text = cell("email")
            email = normalize_email(email_text)
            if not email_text:
                row_problems.append("email is empty")
            elif not is_valid_email(email):
                row_problems.append(f"{email_text!r} is not an e-mail address")
            category_text = cell("category")
            category = parse_category(category_text)
            if not category_text:
                row_problems.append("category is empty (one of: " + _accepted_categories() + ")")
            elif category is None:
                row_problems.append(f"unknown category {category_text!r} (one of: "
                                    + _accepted_categories() + ")")
            aliases = []
            for a in _SPLIT_ADDRESSES.split(cell("aliases")):
                if not a:
                    continue
                addr = normalize_email(a)
                if not is_valid_email(addr):
                    row_problems.append(f"extra address {a!r} is not an e-mail address")
                elif addr != email and addr not in aliases:
                    aliases.append(addr)
            language_text = cell("language")
            language = parse_language(language_text) if language_text else None
            if language_text and language is None:
                row_problems.append(f"unknown language {language_text!r} (ko or en)")
            for addr in ([email] if is_valid_email(email) else []) + aliases:
                if addr in seen:
                    row_problems.append(f"{addr} is already used on line {seen[addr]}")
                else:
                    seen[addr] = line
            if row_problems:
                problems.append((line, "; ".join(row_problems)))
            else:
                rows.append(RosterRow(line, name, email, category, aliases, language,
                                      cell("volunteer_id")[:100] or None))
    except csv.Error as exc:
        problems.append((reader.line_num, f"not readable as CSV: {exc}"))
    return Roster(rows, ignored), problems


# --- writing members ----------------------------------------------------------------------

def _owners(addresses: list[str]) -> dict[str, Member]:
    if not addresses:
        return {}
    query = (MemberAddress.select(MemberAddress, Member).join(Member)
             .where(MemberAddress.email.in_(addresses)))
    return {row.email: row.member for row in query}


def _set_primary(member: Member, email: str) -> bool:
    """Make ``email`` (already the member's) the primary address; True if that changed."""
    current = (MemberAddress.select().where(MemberAddress.member == member,
                                            MemberAddress.is_primary == True)  # noqa: E712
               .first())
    if current is not None and current.email == email:
        return False
    (MemberAddress.update(is_primary=False)
     .where(MemberAddress.member == member).execute())
    (MemberAddress.update(is_primary=True)
     .where(MemberAddress.member == member, MemberAddress.email == email).execute())
    return True


def _row_member(row: RosterRow, owners: dict[str, Member]) -> Member | None:
    """The existing member a roster row is about, or None for a new member.

    The row's main address decides. A member who changed their main address is recognised
    by an old address under aliases only when the name is the same too: a mistyped alias
    must never rename somebody else."""
    if row.email in owners:
        return owners[row.email]
    by_alias = {owners[a].id: owners[a] for a in row.aliases if a in owners}
    if len(by_alias) == 1:
        member = next(iter(by_alias.values()))
        if member.display_name == row.name:
            return member
    return None


def import_roster(path: str | Path, clock: Clock) -> ImportReport:
    """Create or update the members listed in a roster CSV, all or nothing.

    Rows are matched to existing members by ``_row_member``; an address that belongs to a
    different member is a bad row. The database must be open
    (``mailworker.db.open_from_config``)."""
    path = Path(path)
    roster, problems = _parse_roster(path)
    rows = roster.rows
    report = ImportReport(path=path, rows=len(rows))
    if roster.ignored_columns:
        report.warnings.append("column(s) not used and ignored: "
                               + ", ".join(roster.ignored_columns))
    now = naive_utc(clock.now())
    with db_proxy.atomic():
        owners = _owners([a for r in rows for a in [r.email, *r.aliases]])
        matched: list[Member | None] = []
        for r in rows:
            member = _row_member(r, owners)
            foreign = [a for a in [r.email, *r.aliases]
                       if a in owners and (member is None or owners[a].id != member.id)]
            if foreign:
                who = ", ".join(f"{a} belongs to {owners[a].display_name}" for a in foreign)
                problems.append((r.line, f"address already belongs to another member ({who})"))
            matched.append(member)
        taken: dict[int, int] = {}
        for r, m in zip(rows, matched):
            if m is not None and m.id in taken:
                problems.append((r.line, f"this row and line {taken[m.id]} are both the member "
                                         f"{m.display_name}"))
            elif m is not None:
                taken[m.id] = r.line
        if problems:
            raise ImportRowsError(path, sorted(problems))

        for r, member in zip(rows, matched):
            if member is None:
                member = Member.create(uuid=str(uuid.uuid4()), display_name=r.name,
                                       category=r.category, language=r.language or "ko",
                                       volunteer_id=r.volunteer_id, created_at=now)
                MemberAddress.create(member=member, email=r.email, is_primary=True)
                for a in r.aliases:
                    MemberAddress.create(member=member, email=a, is_primary=False)
                report.created += 1
                report.addresses_added += 1 + len(r.aliases)
                continue
            changed = False
            for attr, value in (("display_name", r.name), ("category", r.category),
                                ("language", r.language or member.language),
                                ("volunteer_id", r.volunteer_id or member.volunteer_id)):
                if getattr(member, attr) != value:
                    setattr(member, attr, value)
                    changed = True
            if changed:
                member.save()
            for a in [r.email, *r.aliases]:
                if a not in owners:
                    MemberAddress.create(member=member, email=a, is_primary=False)
                    report.addresses_added += 1
                    changed = True
            changed = _set_primary(member, r.email) or changed
            if member.status != "active":
                report.warnings.append(
                    f"line {r.line}: {r.name} <{r.email}> is {member.status}; the status was "
                    f"left as it is")
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
    report.warnings.extend(quota_warnings())
    return report


def quota_warnings() -> list[str]:
    counts = active_counts()
    return [f"category {category_label(c)} has {counts[c]} active members, more than the "
            f"plan's {QUOTAS[c]} seats" for c in CATEGORIES if counts[c] > QUOTAS[c]]


def active_counts() -> dict[str, int]:
    counts = {c: 0 for c in CATEGORIES}
    for m in Member.select(Member.category).where(Member.status == "active"):
        counts[m.category] = counts.get(m.category, 0) + 1
    return counts


def add_member(name: str, email: str, category: str, clock: Clock,
               aliases: list[str] | tuple[str, ...] = (), language: str = "ko") -> Member:
    """Add one member; raises ``RosterError`` naming what is wrong (nothing is written)."""
    name = (name or "").strip()
    primary = normalize_email(email)
    key = parse_category(category)
    lang = parse_language(language)
    extra = []
    for a in aliases:
        addr = normalize_email(a)
        if not is_valid_email(addr):
            raise RosterError(f"extra address {a!r} is not an e-mail address")
        if addr != primary and addr not in extra:
            extra.append(addr)
    if not name:
        raise RosterError("the name is empty")
    for what, text in (("name", name), ("email", email or ""),
                       *(("extra address", a) for a in aliases)):
        problem = control_problem(what, text)
        if problem:
            raise RosterError(problem)
    if not is_valid_email(primary):
        raise RosterError(f"{email!r} is not an e-mail address")
    if key is None:
        raise RosterError(f"unknown category {category!r} (one of: {_accepted_categories()})")
    if lang is None:
        raise RosterError(f"unknown language {language!r} (ko or en)")
    with db_proxy.atomic():
        owners = _owners([primary, *extra])
        if owners:
            raise RosterError("; ".join(f"{a} already belongs to {m.display_name}"
                                        for a, m in owners.items()))
        member = Member.create(uuid=str(uuid.uuid4()), display_name=name, category=key,
                               language=lang, created_at=naive_utc(clock.now()))
        MemberAddress.create(member=member, email=primary, is_primary=True)
        for a in extra:
            MemberAddress.create(member=member, email=a, is_primary=False)
    return member


@dataclass
class StatusChange:
    member: Member
    old_status: str
    reason_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.old_status != self.member.status


def set_member_status(email: str, status: str, clock: Clock,
                      reason: str | None = None) -> StatusChange:
    """Set the status of the member owning ``email`` (any of their addresses).

    ``resigned`` stamps ``resigned_at`` with the clock's time; ``active`` and ``suspended``
    clear it (a suspended member has not resigned, a reactivated one no longer has). The
    reason, if given, is kept in ``status_reason``; a new status without a reason clears
    the old one. Setting the status a member already has changes only a given reason.
    Raises ``RosterError`` naming what is wrong; nothing is written then."""
    if status not in MEMBER_STATUSES:
        raise RosterError(f"unknown status {status!r} (one of: {', '.join(MEMBER_STATUSES)})")
    reason = (reason or "").strip() or None
    member = find_member_by_address(email)
    if member is None:
        raise RosterError(f"no member has the address {normalize_email(email) or email!r}; "
                          "see `mailworker members list`")
    change = StatusChange(member, member.status)
    with db_proxy.atomic():
        if member.status != status:
            member.status = status
            member.resigned_at = naive_utc(clock.now()) if status == "resigned" else None
            member.status_reason = reason
            member.save()
        elif reason is not None and reason != member.status_reason:
            member.status_reason = reason
            member.save()
            change.reason_changed = True
    return change


def open_resignation_requests():
    """Resignation request mails (해촉 요청) no one has confirmed yet, oldest first."""
    return (Message.select(Message, Member).join(Member)
            .where((Message.kind == "resignation") & (Message.disposition == "recorded")
                   & Message.decided_at.is_null() & (Member.status != "resigned"))
            .order_by(Message.received_at))


def close_resignation_requests(member: Member, actor: str, clock: Clock) -> int:
    """Mark a resigned member's open resignation requests as confirmed by ``actor``."""
    return (Message.update(decided_by=actor, decided_at=naive_utc(clock.now()))
            .where((Message.member == member) & (Message.kind == "resignation")
                   & (Message.disposition == "recorded") & Message.decided_at.is_null())
            .execute())


def confirm_resignation(message_id: int, actor: str, clock: Clock,
                        reason: str = "") -> tuple[Message, StatusChange]:
    """Confirm the resignation request mail #``message_id``: the member who sent it is
    set ``resigned`` (as `members set-status EMAIL resigned` does) and the request is
    marked confirmed by ``actor``. Raises ``RosterError`` naming what is wrong."""
    msg = (Message.select(Message, Member).join(Member)
           .where(Message.id == message_id).first())
    if msg is None or msg.kind != "resignation" or msg.disposition != "recorded":
        raise RosterError(f"message #{message_id} is not a resignation request from a member")
    if msg.decided_at is not None:
        local = msg.decided_at.strftime("%Y-%m-%d %H:%M UTC")
        raise RosterError(f"the resignation request #{message_id} was already confirmed by "
                          f"{msg.decided_by} at {local}")
    member = msg.member
    if member.status == "resigned":
        raise RosterError(f"{member.display_name} has already resigned")
    with db_proxy.atomic():
        change = set_member_status(member.primary_address, "resigned", clock,
                                   reason=reason or f"본인 요청 (해촉 요청 메일 #{msg.id})")
        close_resignation_requests(member, actor, clock)
    msg = Message.get_by_id(message_id)
    return msg, change


def find_member_by_address(addr: str) -> Member | None:
    """The member owning this address (any alias, any case), whatever their status:
    the caller decides what a resigned member's mail means."""
    email = normalize_email(addr)
    if not email:
        return None
    row = (MemberAddress.select(MemberAddress, Member).join(Member)
           .where(MemberAddress.email == email).first())
    return row.member if row else None


@dataclass
class MemberView:
    member: Member
    primary: str
    aliases: list[str]


def list_members(status: str | None = None) -> list[MemberView]:
    """Members with their addresses, by category (plan order) then name."""
    query = Member.select()
    if status:
        query = query.where(Member.status == status)
    members = list(query)
    addresses: dict[int, list[MemberAddress]] = {}
    for a in MemberAddress.select().order_by(MemberAddress.is_primary.desc(), MemberAddress.id):
        addresses.setdefault(a.member_id, []).append(a)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    members.sort(key=lambda m: (order.get(m.category, 99), m.display_name, m.id))
    views = []
    for m in members:
        own = addresses.get(m.id, [])
        views.append(MemberView(m, own[0].email if own else "", [a.email for a in own[1:]]))
    return views
