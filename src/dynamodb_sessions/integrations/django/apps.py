"""The Django app: the ``createsessiontable`` and ``checksessiontable`` commands, and the
system checks of :mod:`.checks`."""

from __future__ import annotations

from django.apps import AppConfig


class DynamoDBSessionsConfig(AppConfig):
    """``INSTALLED_APPS`` entry ``"dynamodb_sessions.integrations.django"``."""

    name = "dynamodb_sessions.integrations.django"
    # The default label would be "django": too easily mistaken for Django itself.
    label = "dynamodb_sessions"
    verbose_name = "DynamoDB sessions"

    def ready(self) -> None:
        """Register the system checks."""
        from .checks import register_checks

        register_checks()
