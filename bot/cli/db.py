"""`chatops db upgrade|current`: create or update the database schema, or show its revision.

The URL is `database.url` from the config file, overridden by `DATABASE_URL`. Upgrading is
idempotent, so it is safe as an init container or a pre-deploy job. Printed URLs have their
password masked.
"""

from __future__ import annotations

import argparse

from bot.cli import EXIT_FAILURE, EXIT_OK, SubParsers, add_config_option, settings_from_args


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser("db", help="manage the database schema", description=__doc__)
    verbs = parser.add_subparsers(title="db commands", dest="db_verb", metavar="ACTION", required=True)
    upgrade = verbs.add_parser("upgrade", help="create or update the schema (idempotent), print the revision")
    add_config_option(upgrade)
    upgrade.set_defaults(handler=_upgrade)
    current = verbs.add_parser("current", help="print the schema revision and whether it is up to date")
    add_config_option(current)
    current.set_defaults(handler=_current)


def _upgrade(args: argparse.Namespace) -> int:
    from bot.store import db

    settings = settings_from_args(args)
    database = db.connect(settings.database.url)
    try:
        before = db.current_revision(database)
        reached = db.upgrade_database(database)
    finally:
        database.dispose()
    change = "already at" if before == reached else f"upgraded from {before or 'an empty database'} to"
    print(f"{database.masked_url}: {change} revision {reached}")
    return EXIT_OK


def _current(args: argparse.Namespace) -> int:
    from bot.store import db

    settings = settings_from_args(args)
    database = db.connect(settings.database.url)
    try:
        revision = db.current_revision(database)
    finally:
        database.dispose()
    head = db.head_revision()
    if revision == head:
        print(f"{database.masked_url}: revision {revision} (up to date)")
        return EXIT_OK
    print(f"{database.masked_url}: revision {revision or 'none'}, expected {head}: run 'chatops db upgrade'")
    return EXIT_FAILURE
