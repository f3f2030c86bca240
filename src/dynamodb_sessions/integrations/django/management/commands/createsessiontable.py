"""``manage.py createsessiontable``: create the session table (idempotent), then turn TTL on."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dynamodb_sessions.integrations.django import get_store

from ._report import show


class Command(BaseCommand):
    """Create the table the session engine is configured with, as ``dynamodb-sessions
    create-table`` does."""

    help = "Create the DynamoDB session table if needed (on-demand billing), wait, enable TTL."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Provisioned capacities (both or neither) and how long to wait."""
        parser.add_argument("--read-capacity", type=int, help="provisioned read capacity units")
        parser.add_argument("--write-capacity", type=int, help="provisioned write capacity units")
        parser.add_argument(
            "--wait", type=float, default=300.0, help="seconds to wait for the table (300)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create (or find) the table and report it."""
        read, write = options["read_capacity"], options["write_capacity"]
        if (read is None) != (write is None):
            raise CommandError("give --read-capacity and --write-capacity together, or neither")
        report = get_store().create_table(
            read_capacity=read, write_capacity=write, wait_seconds=options["wait"]
        )
        show(self, report, "created" if report.created else "exists")
