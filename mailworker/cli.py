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

from . import __version__
from .clock import Clock, SystemClock
from .commands import CONFIG_HELP, Context, command, setup_logging  # noqa: F401 (re-exported)
from .errors import MailworkerError

log = logging.getLogger("mailworker")


def _register_all(sub) -> None:
    # Imported here, not at module top: the CLI sits above the stages and wires them.
    from . import admin_cli, service_cli
    from .ingest import cli as ingest_cli
    from .ledger import cli as ledger_cli
    from .outbound import cli as outbound_cli
    from . import staff_actions  # noqa: F401  (registers the digest's actions)
    from .group import cli as group_cli
    for module in (service_cli, ingest_cli, admin_cli, ledger_cli, outbound_cli, group_cli):
        if module is admin_cli:
            # `members resign` / `members purge` belong to the group's life cycle
            module.register(sub, members_extra=group_cli.register_members)
        else:
            module.register(sub)
    from .group import meeting_cli
    meeting_cli.register(sub, preview=_render_mail)
    meeting_cli.register_hours_actions(sub.choices["hours"])   # beside `hours` (admin_cli)


def _render_mail(cfg, template: str, context: dict):
    """The group's commands preview their mails with outbound's renderer (wired here:
    group does not import outbound)."""
    from .outbound.templates import Renderer
    return Renderer(cfg).render(template, context)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailworker",
        description="Mail worker for the Seoul blockchain governance group: reads the group "
                    "inbox, credits volunteer hours, answers members, keeps the ledger.")
    parser.add_argument("-c", "--config", help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--version", action="version", version=f"mailworker {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _register_all(sub)
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
