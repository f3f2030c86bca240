"""The CLI tests' environment: the module's environment names pointing at the test's engine."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def env(engine, monkeypatch, patient_from_env):
    """The environment names pointing at ``engine``, with a table name nobody has created yet;
    returns that name. The commands run in this process, with the fixtures' patient timeouts."""
    table = f"cli-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", table)
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", engine.endpoint)
    monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_SECRET_KEY", "local")
    return table
