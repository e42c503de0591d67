"""The options every command takes, before or after its name, and the shape of each command's
--help: a one-line description, its arguments, the environment it reads and an example."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from achievements_db import __version__
from achievements_db.database import DEFAULT_CONNECT_TIMEOUT

ENVIRONMENT = """\
environment:
  DATABASE_URL          the database when --database-url is not given; set but empty is an
                        error (unset it to use the embedded PostgreSQL)
  ACHIEVEMENTS_DB_HOME  where the embedded PostgreSQL keeps its data (default: a per-user
                        data folder; as root /var/lib/achievements-db)
  PG*                   libpq's variables (PGPASSWORD, PGSSLMODE, ...) fill in what a
                        connection string leaves out; the embedded PostgreSQL ignores them
                        (it is always reached through its own socket, port, user, database)
  NO_COLOR              no colour even on a terminal"""


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The global options. On the top parser they have their defaults; on a command's parser
    they default to nothing, so that a value given before the command is kept."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=default(None),
        help="postgresql://user:password@host:port/dbname (default: $DATABASE_URL, else an "
        "embedded PostgreSQL in a per-user data folder)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        metavar="SECONDS",
        default=default(None),
        help="how long to wait for the server to answer (default: the URL's connect_timeout, "
        f"else $PGCONNECT_TIMEOUT, else {DEFAULT_CONNECT_TIMEOUT})",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="print only the results and errors: no 'database:' line, notes or progress",
    )
    parser.add_argument("--version", action="version", version=f"achievements-db {__version__}")


def _seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds (1 or more)")
    return int(text)


def add_command(
    commands: argparse._SubParsersAction[Any],
    name: str,
    summary: str,
    *,
    examples: list[str],
    details: str = "",
) -> argparse.ArgumentParser:
    """A command's parser: `summary` in the list of commands and atop its --help, then
    `details`, its arguments, the environment it reads and `examples`."""
    description = summary[0].upper() + summary[1:] + "."
    if details:
        description += "\n\n" + textwrap.fill(" ".join(details.split()), 88)
    epilog = ENVIRONMENT + "\n\nexample" + ("s" if len(examples) > 1 else "") + ":\n"
    epilog += "\n".join(f"  {e}" for e in examples)
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser, top=False)
    return parser
