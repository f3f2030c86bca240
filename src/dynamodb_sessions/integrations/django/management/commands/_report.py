"""How the table commands print a :class:`~dynamodb_sessions.TableReport`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dynamodb_sessions import TableReport


def show(command: BaseCommand, report: TableReport, done: str) -> None:
    """Write ``report`` to the command's output; raise ``CommandError`` if the table is unfit."""
    for note in report.notes:
        command.stdout.write(f"note: {note}")
    if not report.ok:
        raise CommandError(f"table {report.table!r}: {'; '.join(report.problems)}")
    ttl = report.ttl or "not available on this engine"
    command.stdout.write(command.style.SUCCESS(f"table {report.table!r} {done} (TTL: {ttl})"))
