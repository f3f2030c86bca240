"""Only an outage answers 503 (issue 12, item 4). At every adapter (WSGI, Flask, Starlette;
Django in djangotests/test_django_errors.py), errors that no retry cures propagate to the
framework as 500s whose message names the cause, with real errors: a table that does not exist
on the engine, a request botocore refuses to send (an ``int`` user id: a bug in the app), and
no credentials anywhere in botocore's chain. An outage (throttling past the retries, from the
fault proxy) is a 503 with ``Retry-After``, logged once at WARNING with the operation and the
AWS error code, never with the session id."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from failing_apps import ADAPTERS, build

from dynamodb_sessions import (
    BackendError,
    BackendUnavailableError,
    SessionStore,
    TableNotFoundError,
)
from dynamodb_sessions.ids import new_session_id, storage_key
from faults.proxy import FaultProxy

ONE_ENGINE = "the errors are the library's mapping; one engine is enough"
pytestmark = pytest.mark.engines("dynalite", reason=ONE_ENGINE)


def assert_500(reply, kind: type[BackendError], code: str, *hints: str) -> BackendError:
    """A 500 carrying ``kind``: the error went to the framework, nothing said "retry later"."""
    assert (reply.status, reply.retry_after, reply.set_cookies) == (500, None, [])
    error = reply.error
    assert type(error) is kind and error.code == code, repr(error)
    for hint in hints:
        assert hint in str(error), str(error)
    return error


@pytest.mark.parametrize("name", ADAPTERS)
@pytest.mark.transports  # the lean transport raises botocore's errors too
def test_a_missing_table_is_a_500_that_says_to_create_it(name, config, clock, caplog):
    missing = config.replace(table=f"{config.table}-missing")
    sid = new_session_id()
    with caplog.at_level(logging.DEBUG, "dynamodb_sessions"), build(name, missing, clock) as send:
        for reply in (send("/get", f"session={sid}"), send("/set")):  # a read, then a create
            assert_500(
                reply,
                TableNotFoundError,
                "ResourceNotFoundException",
                repr(missing.table),
                "dynamodb-sessions create-table",
            )
    assert sid not in caplog.text
    assert not [r for r in caplog.records if "503" in r.getMessage()]  # nothing claimed an outage


@pytest.mark.parametrize("name", ADAPTERS)
@pytest.mark.transports  # the lean transport raises botocore's errors too
def test_a_request_botocore_refuses_is_a_500_naming_the_bug(name, config, clock):
    with build(name, config, clock) as send:
        reply = send("/bad-user")  # session.user_id = 42
        assert_500(reply, BackendError, "ParamValidationError", "user id must be a str")
        assert not isinstance(reply.error, BackendUnavailableError)


@pytest.mark.parametrize("name", ADAPTERS)
@pytest.mark.transports  # the lean transport raises botocore's errors too
def test_no_credentials_is_a_500_naming_the_credential_chain(name, config, clock):
    # The environment is isolated (conftest): no keys, no profile, no instance metadata.
    anonymous = config.replace(
        connection=dataclasses.replace(config.connection, access_key=None, secret_key=None)
    )
    with build(name, anonymous, clock) as send:
        reply = send("/get", f"session={new_session_id()}")
        assert_500(reply, BackendError, "NoCredentialsError", "credential chain", "AWS_ACCESS_KEY")


@pytest.mark.parametrize("name", ADAPTERS)
def test_an_outage_is_a_503_logged_once_with_operation_and_code(
    name, engine, config, clock, caplog
):
    with FaultProxy(engine.endpoint) as proxy:
        through = config.replace(
            connection=dataclasses.replace(
                config.connection, endpoint_url=proxy.endpoint, max_attempts=2
            )
        )
        with build(name, through, clock) as send:
            sid = send("/set").issued
            assert sid is not None
            proxy.rule("throttle")
            caplog.clear()
            with caplog.at_level(logging.DEBUG, "dynamodb_sessions"):
                reply = send("/get", f"session={sid}")
            assert (reply.status, reply.retry_after, reply.set_cookies) == (503, "5", [])
    converted = [r for r in caplog.records if r.name == "dynamodb_sessions"]
    assert len(converted) == 1, [r.getMessage() for r in converted]
    (record,) = converted
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "503" in message and "get_item" in message
    assert "ProvisionedThroughputExceededException" in message
    assert sid not in caplog.text and storage_key(sid) not in caplog.text


@pytest.mark.transports  # the lean transport raises botocore's errors too
def test_the_store_itself_raises_the_same_errors(config, clock):
    """The mapping is the store's, so the CLI and app code see what the adapters see."""
    with SessionStore(config.replace(table=f"{config.table}-missing"), clock=clock) as store:
        with pytest.raises(TableNotFoundError, match="create-table") as caught:
            store.load(new_session_id())
        assert isinstance(caught.value.__cause__, Exception)  # botocore's error, chained
    with SessionStore(config, clock=clock) as store:
        session = store.load(None)
        session["a"] = 1
        session.user_id = 7  # type: ignore[assignment]
        with pytest.raises(BackendError, match="ParamValidationError") as caught:
            store.finish(session)
        assert not isinstance(caught.value, BackendUnavailableError)
