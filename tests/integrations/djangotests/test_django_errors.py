"""Only an outage answers 503, at Django with this library's middleware (issue 12, item 4; the
other adapters are in tests/integrations/test_store_errors.py). A missing table and missing
credentials propagate to Django (its 500 page), naming the cause; an outage is a 503 with
``Retry-After``, logged once at WARNING with the operation and AWS error code."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from django.test import Client, override_settings
from test_django_hostile import OUR_MIDDLEWARE, issued, request

from dynamodb_sessions import BackendError, SessionStore, TableNotFoundError
from dynamodb_sessions.ids import new_session_id, storage_key
from dynamodb_sessions.integrations.django import set_store
from faults.proxy import FaultProxy

pytestmark = [
    pytest.mark.engines("dynalite", reason="the errors are the library's mapping; one is enough"),
    pytest.mark.usefixtures("urls"),
]


@pytest.fixture
def urls():
    with override_settings(ROOT_URLCONF="test_django_hostile", MIDDLEWARE=OUR_MIDDLEWARE):
        yield


@pytest.fixture
def use(clock):
    """Make the session engine use a store of the given configuration for this test."""
    stores: list[SessionStore] = []

    def use(config):
        stores.append(SessionStore(config, clock=clock))
        set_store(stores[-1])

    yield use
    set_store(None)
    for store in stores:
        store.close()


def test_a_missing_table_is_a_500_that_says_to_create_it(config, use):
    use(config.replace(table=f"{config.table}-missing"))
    with pytest.raises(TableNotFoundError, match="dynamodb-sessions create-table"):
        request("/get", f"sessionid={new_session_id()}")
    response = Client(raise_request_exception=False).get(
        "/get", HTTP_COOKIE=f"sessionid={new_session_id()}"
    )
    assert response.status_code == 500 and not response.has_header("Retry-After")


def test_no_credentials_is_a_500_naming_the_credential_chain(config, use):
    use(
        config.replace(
            connection=dataclasses.replace(config.connection, access_key=None, secret_key=None)
        )
    )
    with pytest.raises(BackendError, match="credential chain") as caught:
        request("/get", f"sessionid={new_session_id()}")
    assert caught.value.code == "NoCredentialsError"


def test_an_outage_is_a_503_logged_once_with_operation_and_code(engine, config, use, caplog):
    with FaultProxy(engine.endpoint) as proxy:
        use(
            config.replace(
                connection=dataclasses.replace(
                    config.connection, endpoint_url=proxy.endpoint, max_attempts=2
                )
            )
        )
        sid = issued(request("/put", None, {"a": 1}))
        assert sid is not None
        proxy.rule("throttle")
        with caplog.at_level(logging.DEBUG, "dynamodb_sessions"):
            response = request("/get", f"sessionid={sid}")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    converted = [r for r in caplog.records if r.name == "dynamodb_sessions"]
    assert len(converted) == 1 and converted[0].levelno == logging.WARNING
    message = converted[0].getMessage()
    assert "503" in message and "get_item" in message
    assert "ProvisionedThroughputExceededException" in message
    assert sid not in caplog.text and storage_key(sid) not in caplog.text
