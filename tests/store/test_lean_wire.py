"""The lean transport sends, byte for byte, what botocore sends.

A lean store runs real flows against the engine through a recording proxy; each request it sent
is then given to a botocore client made for the same connection, with botocore's clock frozen
at the lean request's ``X-Amz-Date``, and botocore's prepared request (caught at ``before-send``,
answered there without sending) must have the same body, the same signed headers and the same
signature. Session credentials come from botocore's credential chain (the environment), so the
security token is signed too.
"""

from __future__ import annotations

import dataclasses
import zlib
from datetime import datetime, timezone

import botocore.auth
import pytest
from botocore.awsrequest import AWSResponse

from dynamodb_sessions import SessionStore
from dynamodb_sessions._core.wire import OPERATIONS
from dynamodb_sessions.store import make_client
from faults.proxy import FaultProxy

SIGNED = ("content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target")


def split_request(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


class Recorder:
    """The raw requests a proxy relays, and the (operation, params) the lean store sent."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.calls: list[tuple[str, dict]] = []

    def rewrite(self, request: bytes, response: bytes) -> bytes:
        self.raw.append(request)
        return response


@pytest.fixture
def session_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLEANWIRETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lean/wire/secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-session-token/with+signs=")


def botocore_request(connection, operation: str, params: dict, when: datetime, monkeypatch):
    """What botocore would send for ``params`` at ``when`` (nothing is sent)."""
    client = make_client(connection)
    caught = []

    def answer(request, **_):
        caught.append(request)
        body = b"{}"
        return AWSResponse(
            request.url,
            200,
            {"content-length": "2", "x-amz-crc32": str(zlib.crc32(body))},
            _Raw(body),
        )

    client.meta.events.register("before-send.dynamodb", answer)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    getattr(client, operation)(**params)
    client.close()
    (request,) = caught
    headers = {
        k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
    }
    headers.setdefault("host", connection.endpoint_url.removeprefix("http://"))
    return headers, request.body


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def test_every_item_operation_goes_out_as_botocore_sends_it(
    engine, config, clock, session_credentials, monkeypatch
):
    recorder = Recorder()
    with FaultProxy(engine.endpoint) as proxy:
        proxy.rewrite = recorder.rewrite
        connection = dataclasses.replace(
            config.connection,
            endpoint_url=proxy.endpoint,
            access_key=None,
            secret_key=None,
            transport="lean",
        )
        with SessionStore(config.replace(connection=connection), clock=clock) as store:
            assert store.transport is not None
            sent = store.transport.call

            def spy(method, params):
                recorder.calls.append((method, params))
                return sent(method, params)

            store.transport.call = spy  # type: ignore[method-assign]
            session = store.load(None)
            session.update({"cart": [1, 2], "ü": {"deep": "é"}})
            session.user_id = "ada"
            store.finish(session)  # PutItem, binary values
            session = store.load(session.session_id)  # GetItem
            session["cart"] = [3]
            store.finish(session)  # UpdateItem
            assert [s.key for s in store.list_user_sessions("ada")]  # Query
            store.gc(segments=1)  # Scan
            store.delete(session.session_id)  # DeleteItem
            store.transport.call(
                "batch_write_item",
                {
                    "RequestItems": {
                        config.table: [
                            {"PutRequest": {"Item": {"id": {"S": "k"}, "b": {"B": b"\x00\xff"}}}},
                            {"DeleteRequest": {"Key": {"id": {"S": "k2"}}}},
                        ]
                    }
                },
            )
            assert set(OPERATIONS) == {operation for operation, _ in recorder.calls}
    assert len(recorder.raw) == len(recorder.calls)  # one request each: no retries
    for (operation, params), raw in zip(recorder.calls, recorder.raw, strict=True):
        lean_headers, lean_body = split_request(raw)
        when = datetime.strptime(lean_headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc
        )
        boto_headers, boto_body = botocore_request(connection, operation, params, when, monkeypatch)
        assert lean_body == boto_body, operation
        assert lean_headers["authorization"] == boto_headers["authorization"], operation
        assert f"SignedHeaders={';'.join(SIGNED)}," in lean_headers["authorization"]
        for name in SIGNED:
            assert lean_headers[name] == boto_headers[name], (operation, name)
        assert int(lean_headers["content-length"]) == len(lean_body)
