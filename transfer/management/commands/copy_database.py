"""manage.py copy_database SOURCE_DSN TARGET_DSN: every row from one database to another."""

import time

from django.core.management.base import BaseCommand, CommandError

from myapp.configuration.environment import ConfigurationError
from transfer.database import copy_rows, find_tool, manage, open_database, pipe, run


class Command(BaseCommand):
    help = (
        "Copy a database (DSN, or 'default' for the configured one) to another: PostgreSQL to "
        "PostgreSQL with pg_dump and pg_restore, any other pair through Django's ORM in batches "
        "after migrating the target. Refuses a target that holds rows, unless --yes."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="SOURCE_DSN")
        parser.add_argument("target", metavar="TARGET_DSN")
        parser.add_argument(
            "--yes", action="store_true", help="replace what the target holds, if anything"
        )

    def handle(self, source, target, yes, **options):
        started = time.monotonic()
        try:
            source = open_database(source, "SOURCE_DSN", source=True)
            target = open_database(target, "TARGET_DSN")
            try:
                self.copy(source, target, yes)
            finally:
                source.close()
                target.close()
        except ConfigurationError as error:
            raise CommandError(error) from None
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")

    def copy(self, source, target, yes):
        if source.same_as(target):
            raise ConfigurationError(
                f"{source.described} and {target.described} are the same database: "
                "name two different ones"
            )
        source.check()
        target.check()
        self.refuse_to_replace(target, yes)
        if source.is_postgres and target.is_postgres:
            self.with_pg_tools(source, target)
        else:
            self.with_orm(source, target)

    def refuse_to_replace(self, target, yes):
        contents = target.contents()
        if not contents:
            return
        lost = ", ".join(f"{table} ({rows} rows)" for table, rows in contents.items())
        if not yes:
            raise ConfigurationError(
                f"{target.described} already holds rows that the copy would replace: {lost}. "
                "Add --yes to replace them, or name an empty database"
            )
        self.stdout.write(f"Replacing what {target.described} holds: {lost}")

    def with_pg_tools(self, source, target):
        server = max(source.server_major(), target.server_major())
        pg_dump, pg_restore = find_tool("pg_dump", server), find_tool("pg_restore", server)
        self.stdout.write(f"Copying {source.described} to {target.described} ({pg_dump})")
        pipe(
            {
                "args": [pg_dump, "--format=custom", "--no-owner", "--no-privileges"],
                "env": {**source.libpq_environment(), "PGDATABASE": source_name(source)},
            },
            {
                # One transaction: a copy that is stopped leaves the target as it was.
                "args": [
                    pg_restore,
                    "--no-owner",
                    "--no-privileges",
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={source_name(target)}",
                ],
                "env": target.libpq_environment(),
            },
            f"Copying to {target.described} failed",
        )

    def with_orm(self, source, target):
        self.stdout.write(f"Migrating {target.described}")
        run(manage(target, "migrate", "--no-input"), f"Migrating {target.described} failed")
        if target.contents():  # only with --yes: what refuse_to_replace listed
            run(manage(target, "flush", "--no-input"), f"Emptying {target.described} failed")
        self.stdout.write(f"Copying rows from {source.described} to {target.described}")
        self.stdout.flush()
        what = f"Copying from {source.described} to {target.described} failed"
        self.stdout.write(run(copy_rows(source, target), what), ending="")


def source_name(database):
    return database.connection.settings_dict["NAME"]
