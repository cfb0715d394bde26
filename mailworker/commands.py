"""What every `mailworker` sub-command shares: the context it runs in and how it is added.

Apart from ``mailworker.cli`` so the stages' command modules can use it without importing
the entry point that imports them.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
from functools import cached_property

from . import config as config_mod
from .clock import Clock, SystemClock


class Context:
    """What a command needs, made on first use: configuration, clock, database."""

    def __init__(self, config_path: str | None, clock: Clock | None = None,
                 out=None, err=None):
        self._config_path = config_path
        self.clock = clock or SystemClock()
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._db = None

    @cached_property
    def cfg(self) -> config_mod.Config:
        return config_mod.load(config_mod.find_config_path(self._config_path))

    def db(self):
        if self._db is None:
            from .db import open_from_config
            self._db = open_from_config(self.cfg, self.clock)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def print(self, *args, **kw) -> None:
        print(*args, file=self.out, **kw)

    def hint(self, text: str) -> None:
        """Print ``text``, its ``mailworker COMMAND`` examples written so that they work
        when pasted: as this command was started (e.g. ``.venv/bin/mailworker``), with
        ``--config FILE`` when one was given."""
        prefix = command_name()
        if self._config_path:
            prefix += f" --config {shlex.quote(str(self._config_path))}"
        self.print(_EXAMPLE.sub(lambda m: prefix + " ", text))


# "mailworker " starting a command example in a hint (not inside a word or a path).
_EXAMPLE = re.compile(r"(?<![\w./-])mailworker (?=[a-z])")


def command_name() -> str:
    """How this run was started, so printed hints can be pasted (e.g. .venv/bin/mailworker)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith("__main__.py"):
        return "python -m mailworker"
    if os.path.basename(argv0) == "mailworker":
        rel = os.path.relpath(argv0)
        return rel if not rel.startswith("..") and os.sep in rel else argv0
    return "mailworker"


CONFIG_HELP = ("configuration file (default: $MAILWORKER_CONFIG, ./mailworker.toml, "
               "/etc/mailworker/mailworker.toml); may stand before or after the command")


def _config_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given after the command it sets args.config; not given, it leaves the value
    # from before the command alone (argparse copies a sub-parser's defaults over it).
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, help=CONFIG_HELP)


def command(sub, name: str, handler, help: str, **kw) -> argparse.ArgumentParser:
    """Add a sub-command whose function is ``handler(args, ctx) -> exit status``."""
    p = sub.add_parser(name, help=help, description=kw.pop("description", help), **kw)
    _config_option(p)
    p.set_defaults(handler=handler)
    return p


def command_group(sub, name: str, help: str, description: str | None = None):
    """Add a command with actions of its own (``mailworker triage list``); returns the
    sub-parsers to add the actions to. ``--help`` shows the description (or the help)."""
    p = sub.add_parser(name, help=help, description=description or help)
    _config_option(p)
    actions = p.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar="ACTION")
    actions.required = True
    return actions


# Libraries whose DEBUG lines carry our data: peewee logs every SQL statement with its
# parameters (names, addresses, subjects), imapclient and aiosmtplib the protocol lines
# (headers, addresses), mail-parser the headers it decodes. They stay at INFO even with -v.
QUIET_LIBRARIES = ("peewee", "imapclient", "aiosmtplib", "mailparser", "asyncio", "urllib3",
                   "psycopg2", "jinja2", "PIL", "matplotlib")


def setup_logging(verbose: bool, level: str = "INFO") -> None:
    """-v is DEBUG for mailworker's own loggers only; their lines carry ids and counts,
    never a member's name, address or subject (README: "Logs")."""
    base = getattr(logging, level, logging.INFO)
    logging.basicConfig(level=base, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("mailworker").setLevel(logging.DEBUG if verbose else logging.NOTSET)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(base, logging.INFO))
