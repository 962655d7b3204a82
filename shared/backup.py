"""Backups from the command line (README "Backup and restore"), with the deployment's settings.

    python -m shared.backup create                   # a backup now (SQLite), or a Firestore export
    python -m shared.backup list                     # the backups in the media store, newest first
    python -m shared.backup restore NAME             # into the configured SQLITE_PATH / DATA_DIR
    python -m shared.backup restore NAME --force     # ... replacing the database that is there

``restore`` refuses to replace an existing database unless ``--force``: then the database is
overwritten in place through SQLite's backup API (a server that has it open carries on with the
restored data; whatever it wrote since the backup is gone) and the replaced one is kept beside it
as ``gateway.sqlite3.before-restore-<time>``. Exit status: 0 done, 1 refused or not found, 2 usage.
"""

from __future__ import annotations

import argparse
import sys
import time

from shared import wiring
from shared.config import Settings
from shared.wiring_ops import OperationsServices


def _services() -> OperationsServices:
    return wiring.services()


def _create() -> int:
    result = _services().backup.run(force=True)
    if result.kind == "sqlite":
        print(f"{result.name}\t{result.bytes} bytes\tremoved: {', '.join(result.removed) or '-'}")
    elif result.kind == "firestore_export":
        print(f"export started: {result.operation}\n  -> {result.output_uri}")
    else:
        print(f"no backup: {result.reason}", file=sys.stderr)
        return 1
    return 0


def _list() -> int:
    for stored in _services().backup.backups():
        made = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stored.modified))
        print(f"{stored.key.removeprefix('backups/')}\t{stored.size} bytes\t{made}")
    return 0


def _restore(settings: Settings, name: str, force: bool) -> int:
    from shared.services.backup import NoSuchBackup
    from shared.stores.sqlite.backup import BadBackup, DatabaseExists

    target = settings.resolved_sqlite_path
    try:
        kept = _services().backup.restore(name, target, force=force)
    except NoSuchBackup:
        print(f"no backup named {name!r} (python -m shared.backup list)", file=sys.stderr)
        return 1
    except DatabaseExists:
        print(f"{target} exists; pass --force to replace it (it is kept beside it)", file=sys.stderr)
        return 1
    except BadBackup as exc:
        print(f"{name} cannot be restored: {exc}", file=sys.stderr)
        return 1
    print(f"restored {name} into {target}" + (f" (the replaced database is {kept})" if kept else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.backup", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="make a backup now")
    commands.add_parser("list", help="list the backups, newest first")
    restore = commands.add_parser("restore", help="restore a backup into the configured database")
    restore.add_argument("name")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    args = parser.parse_args(argv)
    settings = wiring.settings()
    if settings.store != "sqlite" and args.command != "create":
        print("STORE=firestore: see README 'Backup and restore' (gcloud firestore import)", file=sys.stderr)
        return 2
    try:
        if args.command == "create":
            return _create()
        if args.command == "list":
            return _list()
        return _restore(settings, args.name, args.force)
    finally:
        wiring.reset()


if __name__ == "__main__":
    sys.exit(main())
