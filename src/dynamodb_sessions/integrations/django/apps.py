"""The Django app that adds the ``createsessiontable`` and ``checksessiontable`` commands."""

from __future__ import annotations

from django.apps import AppConfig


class DynamoDBSessionsConfig(AppConfig):
    """``INSTALLED_APPS`` entry ``"dynamodb_sessions.integrations.django"``."""

    name = "dynamodb_sessions.integrations.django"
    # The default label would be "django": too easily mistaken for Django itself.
    label = "dynamodb_sessions"
    verbose_name = "DynamoDB sessions"
