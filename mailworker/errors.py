"""Named errors. Each carries a message written for the person who must act on it."""


class MailworkerError(Exception):
    """Base of every error mailworker reports to a person instead of a traceback."""


class ConfigError(MailworkerError):
    """The configuration file or a value in it is wrong."""


class SecretError(ConfigError):
    """A secret is missing, unreadable or stored too openly."""


class DatabaseError(MailworkerError):
    """The database cannot be opened or migrated."""


class SourceError(MailworkerError):
    """The mailbox source (IMAP server, Maildir) failed."""


class SourceUnavailable(SourceError):
    """The mailbox source cannot be reached now; try again later."""


class SourceAuthError(SourceError):
    """The mailbox server refused the credentials."""


class ImportRowsError(MailworkerError):
    """A roster file has bad rows; nothing was imported."""

    def __init__(self, path, problems):
        self.problems = problems
        lines = "\n".join(f"  line {n}: {why}" for n, why in problems)
        super().__init__(f"{path}: {len(problems)} bad row(s), nothing imported:\n{lines}")


class RosterFileError(ImportRowsError):
    """The roster file as a whole cannot be read as a roster (a workbook, not text, empty):
    said of the file, not counted as a bad row."""

    def __init__(self, path, why: str):
        self.problems = [(0, why)]
        MailworkerError.__init__(self, f"{path}: {why}; nothing imported")


class NotFound(MailworkerError):
    """A record named on the command line does not exist."""
