"""The lean transport's sans-IO parts against botocore's own: the same retry decisions and
backoff as botocore's ``standard`` mode, the same signature as ``SigV4Auth``, the same parse."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.retries import standard

from dynamodb_sessions._core import wire
from dynamodb_sessions._core.steps import Sleep

MODEL = botocore.session.get_session().get_service_model("dynamodb").operation_model("GetItem")
WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def answer(status: int, body: bytes, *, crc: int | None = None) -> wire.Answer:
    headers = {
        "content-length": str(len(body)),
        "x-amz-crc32": str(zlib.crc32(body) if crc is None else crc),
    }
    return wire.Answer(status, headers, body)


def error(status: int, code: str | None) -> wire.Answer:
    body = b"" if code is None else json.dumps({"__type": f"ns#{code}", "message": "m"}).encode()
    return answer(status, body)


CASES = [
    error(400, "ProvisionedThroughputExceededException"),
    error(400, "ThrottlingException"),
    error(400, "RequestLimitExceeded"),
    error(400, "LimitExceededException"),
    error(400, "RequestTimeout"),
    error(400, "ValidationException"),
    error(400, "ConditionalCheckFailedException"),
    error(400, "ResourceNotFoundException"),
    error(400, "AccessDeniedException"),
    error(500, "InternalServerError"),
    error(503, "ServiceUnavailable"),
    error(502, None),
    error(504, None),
    error(501, None),
    answer(200, b"{}", crc=1),  # a CRC32 mismatch
    wire.Lost(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")),
    wire.Lost(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), timeout=True),
    wire.Lost(ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), timeout=True),
    wire.Lost(ConnectionClosedError(endpoint_url="http://127.0.0.1:1")),
]


def botocore_context(reply: wire.Answer | wire.Lost, attempt: int) -> standard.RetryContext:
    if isinstance(reply, wire.Lost):
        return standard.RetryContext(
            attempt_number=attempt,
            operation_model=MODEL,
            caught_exception=reply.error,
            request_context={},
        )
    http = AWSResponse("http://127.0.0.1:1", reply.status, dict(reply.headers), None)
    http._content = reply.body
    parsed = wire.parse(reply)
    error = (
        {"Error": {"Code": parsed.code, "Message": parsed.message}}
        if isinstance(parsed, wire.Refusal)
        else {}
    )
    return standard.RetryContext(
        attempt_number=attempt,
        operation_model=MODEL,
        parsed_response=error,
        http_response=http,
        request_context={},
    )


def run(replies: list, *, max_attempts: int = 3, quota: wire.RetryQuota | None = None):
    """Drive :func:`wire.exchange` with ``replies``: (steps, outcome)."""
    flow = wire.exchange(max_attempts, quota or wire.RetryQuota(), lambda: 0.5)
    steps, pending, reply = [], list(replies), None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as done:
            return steps, done.value
        steps.append(step)
        reply = pending.pop(0) if isinstance(step, wire.Send) else None


@pytest.mark.parametrize("reply", CASES, ids=repr)
def test_what_is_retried_is_what_botocore_standard_mode_retries(reply):
    expected = standard.StandardRetryConditions(max_attempts=3).is_retryable(
        botocore_context(reply, 1)
    )
    steps, _ = run([reply, answer(200, b"{}")])
    assert (len(steps) == 3) == expected  # Send, Sleep, Send when retried; else one Send


@pytest.mark.parametrize("reply", [CASES[0], CASES[9], CASES[15]], ids=repr)
def test_the_waits_are_botocores_full_jitter_backoff(reply):
    backoff = standard.ExponentialBackoff(random=lambda: 0.5)
    steps, outcome = run([reply] * 5, max_attempts=5)
    waits = [s.seconds for s in steps if isinstance(s, Sleep)]
    assert waits == [backoff.delay_amount(botocore_context(reply, n)) for n in range(1, 5)]
    assert waits == [0.5, 1.0, 2.0, 4.0]
    assert [s.attempt for s in steps if isinstance(s, wire.Send)] == [1, 2, 3, 4, 5]
    assert outcome == (wire.parse(reply) if isinstance(reply, wire.Answer) else reply)


def test_the_retry_quota_ends_retries_in_a_long_outage_and_successes_refill_it():
    quota = wire.RetryQuota()
    throttled = CASES[0]
    for _ in range(50):  # 50 calls x 2 retries x 5 = the whole bucket
        run([throttled] * 3, quota=quota)
    assert quota.available == 0
    steps, _ = run([throttled], quota=quota)
    assert steps == [wire.Send(1)]  # no retry left
    run([answer(200, b"{}")], quota=quota)
    assert quota.available == 1
    timed_out = wire.RetryQuota()
    run([CASES[16], answer(200, b"{}")], quota=timed_out)
    assert timed_out.available == wire.RetryQuota.CAPACITY  # the 10 drawn, given back


def test_an_answer_without_its_announced_length_is_never_data_nor_retried():
    short = wire.Answer(200, {"content-length": "10"}, b"{}")
    steps, outcome = run([short])
    assert outcome == wire.Incomplete(crc=False) and len(steps) == 1
    unframed = wire.Answer(200, {}, b"{}")
    assert wire.parse(unframed) == wire.Incomplete(crc=False)
    chunked = wire.Answer(200, {"transfer-encoding": "chunked"}, b'{"Item": {}}')
    assert wire.parse(chunked) == {"Item": {}}


def test_binary_values_come_back_as_bytes_as_botocore_gives_them():
    item = {
        "id": {"S": "B"},
        "B": {"B": "AP8="},
        "set": {"BS": ["AA==", "AQ=="]},
        "m": {"M": {"B": {"B": "AP8="}, "s": {"S": "AP8="}}},
        "l": {"L": [{"B": "AP8="}, {"N": "1"}]},
    }
    body = json.dumps({"Item": item}).encode()
    assert wire.parse(answer(200, body)) == {
        "Item": {
            "id": {"S": "B"},
            "B": {"B": b"\x00\xff"},
            "set": {"BS": [b"\x00", b"\x01"]},
            "m": {"M": {"B": {"B": b"\x00\xff"}, "s": {"S": "AP8="}}},
            "l": {"L": [{"B": b"\x00\xff"}, {"N": "1"}]},
        }
    }


def test_errors_are_read_as_botocores_json_parser_reads_them():
    refused = wire.parse(error(400, "ConditionalCheckFailedException"))
    assert refused == wire.Refusal("ConditionalCheckFailedException", "m", 400)
    assert wire.parse(error(503, None)) == wire.Refusal("503", "", 503)
    html = answer(502, b"<html>bad gateway</html>")
    assert wire.parse(html) == wire.Refusal("502", "<html>bad gateway</html>", 502)
    with_id = error(400, "ValidationException")
    with_id.headers["x-amzn-requestid"] = "R3QU35T"  # type: ignore[index]
    assert wire.parse(with_id) == wire.Refusal("ValidationException", "m", 400, "R3QU35T")


@pytest.mark.parametrize("token", [None, "a-session-token"])
def test_the_signature_is_sigv4auths(token):
    body = wire.encode({"TableName": "t", "Key": {"id": {"S": "k"}, "b": {"B": b"\x00"}}})
    credentials = Credentials("AKID", "secret/key", token)
    signer = wire.Signer("eu-west-1", "dynamodb.eu-west-1.amazonaws.com")
    ours = signer.headers("GetItem", body, credentials.get_frozen_credentials(), WHEN)
    request = AWSRequest(
        "POST",
        "https://dynamodb.eu-west-1.amazonaws.com/",
        data=body,
        headers={k: v for k, v in ours.items() if k in ("X-Amz-Target", "Content-Type")},
    )
    auth = SigV4Auth(credentials, "dynamodb", "eu-west-1")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: WHEN)
        auth.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
    # The signing key is derived once per secret and day, and reused.
    assert signer.headers("GetItem", body, credentials.get_frozen_credentials(), WHEN) == ours


def test_values_of_the_wrong_type_are_caught_before_sending():
    assert wire.well_typed({"Item": {"id": {"S": "k"}, "m": {"M": {"l": {"L": [{"N": "1"}]}}}}})
    assert not wire.well_typed({"Item": {"user_id": {"S": 7}}})
    assert not wire.well_typed({"ExpressionAttributeValues": {":b": {"B": "not bytes"}}})
    assert not wire.well_typed({"Key": {"id": {"X": "k"}}})
