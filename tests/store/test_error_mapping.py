"""The one classification of DynamoDB's errors (issue 12, item 4): botocore's own exception
objects, as its client raises them, go through ``store.backend_error``. Only what retrying can
cure is a ``BackendUnavailableError`` (the adapters' 503); the rest are ``BackendError`` whose
message names the cause. The engines here check neither permissions nor signatures, so those
errors are built the way botocore builds them from an error response; the ones the engines can
produce are driven for real in tests/integrations/test_store_errors.py."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from dynamodb_sessions import BackendError, BackendUnavailableError, TableNotFoundError
from dynamodb_sessions._core.lifecycle import RETRY_LATER
from dynamodb_sessions.store import backend_error


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} says no"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetItem")  # type: ignore[arg-type]


RETRYABLE = [
    client_error("ProvisionedThroughputExceededException", 400),
    client_error("ThrottlingException", 400),
    client_error("RequestLimitExceeded", 400),
    client_error("InternalServerError", 500),
    client_error("ServiceUnavailable", 503),
    client_error("SomethingNew", 502),  # any 5xx
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
]

NOT_RETRYABLE = [
    (client_error("AccessDeniedException", 400), "iam-policy"),
    (client_error("UnrecognizedClientException", 400), "access key is not valid"),
    (client_error("InvalidSignatureException", 400), "secret key does not match"),
    (client_error("ExpiredTokenException", 400), "expired"),
    (client_error("ValidationException", 400), "key schema"),
    (NoCredentialsError(), "credential chain"),
    (ParamValidationError(report="Invalid type for parameter Item.user_id.S"), "a str"),
    (NoRegionError(), "AWS_REGION_NAME"),
]


@pytest.mark.parametrize("exc", RETRYABLE, ids=lambda e: type(e).__name__)
def test_what_retrying_can_cure_is_unavailable(exc):
    error = backend_error(exc, "get_item", "sessions")
    assert isinstance(error, BackendUnavailableError) and isinstance(error, RETRY_LATER)


@pytest.mark.parametrize(("exc", "hint"), NOT_RETRYABLE, ids=lambda e: str(e)[:30])
def test_everything_else_is_an_error_that_names_its_cause(exc, hint):
    error = backend_error(exc, "get_item", "sessions")
    assert type(error) is BackendError and not isinstance(error, RETRY_LATER)
    assert hint in str(error) and error.operation == "get_item"
    assert error.code in str(error)


def test_a_missing_table_names_the_table_and_the_command():
    error = backend_error(client_error("ResourceNotFoundException", 400), "get_item", "sessions")
    assert type(error) is TableNotFoundError and not isinstance(error, RETRY_LATER)
    assert "'sessions'" in str(error) and "dynamodb-sessions create-table" in str(error)
