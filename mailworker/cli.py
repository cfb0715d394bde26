"""The `mailworker` command. Each area registers its own sub-commands here.

Errors meant for people (``MailworkerError`` and the ledger's ``LedgerError``) are printed
as one clear message with exit status 2; nothing else is caught, so a real bug still
shows its traceback to the engineer.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import cached_property

from . import __version__
from . import config as config_mod
from .clock import Clock, SystemClock
from .errors import MailworkerError

log = logging.getLogger("mailworker")


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


def _register_all(sub) -> None:
    # Imported here, not at module top: the CLI sits above the stages and wires them.
    from . import admin_cli, service_cli
    from .ingest import cli as ingest_cli
    from .ledger import cli as ledger_cli
    from .outbound import cli as outbound_cli
    from .group import cli as group_cli
    for module in (service_cli, ingest_cli, admin_cli, ledger_cli, outbound_cli, group_cli):
        module.register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailworker",
        description="Mail worker for the Seoul blockchain governance group: reads the group "
                    "inbox, credits volunteer hours, answers members, keeps the ledger.")
    parser.add_argument("-c", "--config", help="configuration file (default: $MAILWORKER_CONFIG, "
                        "./mailworker.toml, /etc/mailworker/mailworker.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--version", action="version", version=f"mailworker {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _register_all(sub)
    return parser


def setup_logging(verbose: bool, level: str = "INFO") -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # imapclient logs protocol lines at DEBUG; keep them out unless asked (it redacts LOGIN).
    logging.getLogger("imapclient").setLevel(logging.INFO if not verbose else logging.DEBUG)


def main(argv: list[str] | None = None, clock: Clock | None = None) -> int:
    from .ledger.merkle import LedgerError
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    ctx = Context(args.config, clock)
    try:
        return int(args.handler(args, ctx) or 0)
    except (MailworkerError, LedgerError) as exc:
        print(f"mailworker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mailworker: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        ctx.close()


def command(sub, name: str, handler, help: str, **kw) -> argparse.ArgumentParser:
    """Add a sub-command whose function is ``handler(args, ctx) -> exit status``."""
    p = sub.add_parser(name, help=help, description=help, **kw)
    p.set_defaults(handler=handler)
    return p


if __name__ == "__main__":
    sys.exit(main())
