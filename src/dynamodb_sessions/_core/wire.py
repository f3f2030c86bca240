"""DynamoDB's wire protocol, sans-IO: what the lean transport sends, signs, checks and retries.

The request dicts of :mod:`.requests` become DynamoDB JSON (the bytes botocore's serializer
makes of them), signed with AWS Signature Version 4 exactly as botocore signs them; an answer is
checked (framing, CRC32) and parsed with :mod:`json`, binary values decoded to ``bytes`` as
botocore gives them. :func:`exchange` decides the retries of one call as botocore's
``standard`` mode does. No I/O, no clock, no credentials lookup: the drivers in
``transport.py`` (its own sockets, urllib3, aiohttp) send, sleep and read the credentials.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import zlib
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .steps import Sleep

TARGET = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
SERVICE = "dynamodb"

OPERATIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
    "batch_write_item": "BatchWriteItem",
}
"""The operations the lean transport carries (botocore method name -> DynamoDB's). The table
operations (create, describe, TTL) stay on botocore: rare, and their answers hold timestamps."""


def encode(params: Mapping[str, Any]) -> bytes:
    """The body botocore sends for ``params``: ``json.dumps`` with its default separators, the
    keys in the order given, ``bytes`` (the ``B`` and ``BS`` values) in base64."""
    return json.dumps(params, default=_base64).encode()


def _base64(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not a DynamoDB value")


# The JSON type each AttributeValue tag holds; botocore refuses anything else before sending.
_LEAF_TYPES: dict[str, type | tuple[type, ...]] = {
    "S": str,
    "N": str,
    "B": (bytes, bytearray),
    "BOOL": bool,
    "NULL": bool,
}


def well_typed(params: Mapping[str, Any]) -> bool:
    """Tell whether every attribute value in ``params`` has the type its tag requires.

    The store builds its requests itself, but a value the application supplies (a user id that
    is an ``int``) would otherwise go out as something DynamoDB reads differently. A driver
    that gets ``False`` lets botocore's validator name the fault (``ParamValidationError``),
    as the botocore transport does.
    """
    for name in ("Item", "Key", "ExpressionAttributeValues", "ExclusiveStartKey"):
        values = params.get(name)
        if values is not None and not all(_valid_value(v) for v in values.values()):
            return False
    return True


def _valid_value(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((tag, inner),) = value.items()
    if tag in _LEAF_TYPES:
        return isinstance(inner, _LEAF_TYPES[tag])
    if tag == "M":
        return isinstance(inner, dict) and all(_valid_value(v) for v in inner.values())
    if tag == "L":
        return isinstance(inner, list) and all(_valid_value(v) for v in inner)
    if tag in ("SS", "NS"):
        return isinstance(inner, list) and all(isinstance(v, str) for v in inner)
    if tag == "BS":
        return isinstance(inner, list) and all(isinstance(v, (bytes, bytearray)) for v in inner)
    return False


@dataclass(frozen=True)
class Credentials:
    """One frozen reading of botocore's credentials (a refresh gives a new one)."""

    access_key: str
    secret_key: str
    token: str | None = None


class Signer:
    """AWS Signature Version 4 for DynamoDB in one region, as botocore's ``SigV4Auth`` signs.

    The signed headers are botocore's for these operations: ``content-type``, ``host``,
    ``x-amz-date``, ``x-amz-security-token`` (with session credentials), ``x-amz-target``.
    The signing key depends only on the secret, the day, the region and the service, so it is
    derived once per secret and day (four HMACs saved on every call).
    """

    def __init__(self, region: str, host: str) -> None:
        self.region = region
        self.host = host
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def headers(
        self, operation: str, body: bytes, credentials: Credentials, when: datetime
    ) -> dict[str, str]:
        """The headers of a request carrying ``body``, signed at ``when`` (UTC)."""
        stamp = when.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        target = TARGET + operation
        canonical = [f"content-type:{CONTENT_TYPE}", f"host:{self.host}", f"x-amz-date:{stamp}"]
        signed = "content-type;host;x-amz-date"
        if credentials.token is not None:
            canonical.append(f"x-amz-security-token:{credentials.token}")
            signed += ";x-amz-security-token"
        canonical.append(f"x-amz-target:{target}")
        signed += ";x-amz-target"
        request = "\n".join(
            ["POST", "/", "", *canonical, "", signed, hashlib.sha256(body).hexdigest()]
        )
        scope = f"{day}/{self.region}/{SERVICE}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(request.encode()).hexdigest()]
        )
        signature = hmac.new(
            self._key(credentials.secret_key, day), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        headers = {
            "X-Amz-Target": target,
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Date": stamp,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}",
        }
        if credentials.token is not None:
            headers["X-Amz-Security-Token"] = credentials.token
        return headers

    def _key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            key = f"AWS4{secret}".encode()
            for part in (day, self.region, SERVICE, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            with self._lock:
                # Only today's key (and at midnight yesterday's) is ever useful again.
                if len(self._keys) > 4:
                    self._keys.clear()
                self._keys[(secret, day)] = key
        return key


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as received: ``headers`` looked up by lower-case name."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Lost:
    """No answer: the connection failed (``error`` is what the driver raises if it is final);
    ``timeout`` says whether it timed out (a dearer retry, as botocore counts)."""

    error: Exception
    timeout: bool = False


@dataclass(frozen=True)
class Refusal:
    """DynamoDB answered with an error: its code (``__type`` without the namespace), its
    message, the HTTP status and the request id (``x-amzn-RequestId``, what AWS support asks
    for), the parts of botocore's ``ClientError`` the store and its users read."""

    code: str
    message: str
    status: int
    request_id: str = ""


@dataclass(frozen=True)
class Incomplete:
    """An answer whose body is not the one announced (no framing, another length, a CRC32
    that does not match): never read as data. ``crc`` says it was the checksum that failed."""

    crc: bool


def framed(headers: Mapping[str, str], body: bytes | bytearray) -> bool:
    """Tell whether ``body`` is complete: its length is the one announced (or it came
    chunked). Both transports check it (botocore's through ``store.guard_responses``)."""
    length = headers.get("content-length")
    if length is None:
        return "chunked" in headers.get("transfer-encoding", "").lower()
    return length.strip().isdigit() and int(length) == len(body)


def crc_matches(headers: Mapping[str, str], body: bytes | bytearray) -> bool:
    """Tell whether ``body`` matches its ``x-amz-crc32`` header (true without one)."""
    crc = headers.get("x-amz-crc32")
    return crc is None or (crc.strip().isdigit() and int(crc) == zlib.crc32(body))


def _binary(node: dict[str, Any]) -> Any:
    # Called on every JSON object, innermost first. In a DynamoDB answer only an
    # AttributeValue is an object whose one key is "B" with a string (or "BS" with a list):
    # a map's values are objects, never strings.
    if len(node) == 1:
        if type(value := node.get("B")) is str:
            node["B"] = base64.b64decode(value)
        elif type(value := node.get("BS")) is list:
            node["BS"] = [base64.b64decode(v) for v in value]
    return node


def parse(answer: Answer) -> dict[str, Any] | Refusal | Incomplete:
    """What ``answer`` says: the response dict (as botocore's, less ``ResponseMetadata``), a
    :class:`Refusal`, or :class:`Incomplete`."""
    if not framed(answer.headers, answer.body):
        return Incomplete(crc=False)
    if not crc_matches(answer.headers, answer.body):
        return Incomplete(crc=True)
    if 200 <= answer.status < 300:
        try:
            parsed: dict[str, Any] = json.loads(answer.body or b"{}", object_hook=_binary)
        except (ValueError, binascii.Error):
            return Incomplete(crc=False)
        return parsed
    return _refusal(answer)


def _refusal(answer: Answer) -> Refusal:
    """The error in ``answer``, read as botocore's JSON error parser reads it."""
    try:
        body = json.loads(answer.body) if answer.body else {}
    except ValueError:
        body = {"message": answer.body.decode("utf-8", "replace")}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("__type", answer.status))
    code = code.split(":", 1)[0].rpartition("#")[2]
    message = str(body.get("message", body.get("Message", "")))
    return Refusal(code, message, answer.status, answer.headers.get("x-amzn-requestid", ""))


# botocore's standard retry mode (botocore/retries/standard.py), for DynamoDB.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
MAX_BACKOFF = 20.0


class RetryQuota:
    """botocore's retry quota: a bucket of 500 that each retry draws from (5, or 10 after a
    timeout) and each success refills, so a long outage stops costing retries."""

    CAPACITY = 500
    RETRY_COST = 5
    TIMEOUT_COST = 10
    NO_RETRY_REFILL = 1

    def __init__(self) -> None:
        self.available = self.CAPACITY
        self._lock = threading.Lock()

    def acquire(self, amount: int) -> bool:
        """Take ``amount`` for one retry; ``False`` (no retry) when the bucket is short."""
        with self._lock:
            if amount > self.available:
                return False
            self.available -= amount
            return True

    def release(self, amount: int) -> None:
        """Give back ``amount`` after a success, never above the capacity."""
        if self.available == self.CAPACITY:
            return
        with self._lock:
            self.available = min(self.CAPACITY, self.available + amount)


@dataclass(frozen=True)
class Send:
    """Send the request (attempt ``attempt``, from 1); the driver replies :class:`Answer` or
    :class:`Lost`."""

    attempt: int


Outcome = dict[str, Any] | Refusal | Incomplete | Lost
Exchange = Generator[Send | Sleep, Answer | Lost | float | None, Outcome]


def exchange(max_attempts: int, quota: RetryQuota, random: Callable[[], float]) -> Exchange:
    """One call with botocore's ``standard`` retries: what to send, when to wait, and the
    outcome (the response dict, or the last failure, which the driver raises).

    Retried, while attempts and the quota last: lost connections and timeouts, throttling
    codes, transient codes and 500/502/503/504, and answers whose CRC32 does not match. The
    wait before retry ``n`` (from 1) is ``random() * min(2 ** (n - 1), 20)`` seconds: full
    jitter, as botocore's ``ExponentialBackoff``.
    """
    attempt = 1
    drawn = 0
    while True:
        reply = yield Send(attempt)
        outcome: Outcome = reply if isinstance(reply, Lost) else parse(reply)  # type: ignore[arg-type]
        cost = _retry_cost(outcome)
        if cost is None:
            if isinstance(outcome, dict):
                quota.release(drawn or RetryQuota.NO_RETRY_REFILL)
            return outcome
        if attempt >= max_attempts or not quota.acquire(cost):
            return outcome
        drawn = cost
        yield Sleep(random() * min(2.0 ** (attempt - 1), MAX_BACKOFF))
        attempt += 1


def _retry_cost(outcome: Outcome) -> int | None:
    """What retrying ``outcome`` costs of the quota; ``None``: not retried."""
    if isinstance(outcome, Lost):
        return RetryQuota.TIMEOUT_COST if outcome.timeout else RetryQuota.RETRY_COST
    if isinstance(outcome, Incomplete):
        return RetryQuota.RETRY_COST if outcome.crc else None
    if isinstance(outcome, Refusal) and (
        outcome.code in THROTTLING_CODES
        or outcome.code in TRANSIENT_CODES
        or outcome.status in TRANSIENT_STATUSES
    ):
        return RetryQuota.RETRY_COST
    return None
