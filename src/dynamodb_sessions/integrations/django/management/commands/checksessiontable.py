"""``manage.py checksessiontable``: tell whether the session table is fit for sessions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dynamodb_sessions.integrations.django import get_store

from ._report import show


class Command(BaseCommand):
    """Check the table the session engine is configured with; exit 1 when it is unfit."""

    help = "Check that the DynamoDB session table exists, has the right key, and has TTL on."

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the table and report it."""
        show(self, get_store().check_table(), "is fit for sessions")
