"""The lean transport's HTTP/1.1, sans-IO (``_core/http.py``): the request's bytes, the
answer's head and the framing of its body, checked against http.client where it has a say."""

from __future__ import annotations

import http.client
import io
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_sessions._core import http as h

HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.GetItem",
    "Content-Type": "application/x-amz-json-1.0",
}


def test_a_request_is_its_head_and_body_in_one_piece():
    data = h.request("127.0.0.1:8000", HEADERS, b'{"TableName": "t"}')
    assert data == (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        b"X-Amz-Target: DynamoDB_20120810.GetItem\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: 18\r\nAccept-Encoding: identity\r\n\r\n"
        b'{"TableName": "t"}'
    )


def test_a_request_reads_back_as_http_client_reads_one():
    # http.client's server side parses it as any HTTP/1.1 request.
    data = h.request("example.com", HEADERS, b"{}")
    line, _, rest = data.partition(b"\r\n")
    message = http.client.parse_headers(io.BytesIO(rest))
    assert line == b"POST / HTTP/1.1"
    assert message["host"] == "example.com"
    assert message["content-length"] == "2"
    assert message["x-amz-target"] == "DynamoDB_20120810.GetItem"


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_a_header_value_cannot_smuggle_another_header(value):
    with pytest.raises(ValueError, match="invalid header value"):
        h.request("example.com", {"X-Amz-Security-Token": value}, b"{}")


def test_a_head_gives_the_status_and_headers_by_lower_case_name():
    head = h.head(
        b"HTTP/1.1 200 OK\r\nx-amzn-RequestId: abc\r\nX-Amz-Crc32:  123 \r\n"
        b"Content-Length: 2\r\nSet-Cookie: a=1\r\nset-cookie: b=2"
    )
    assert head.status == 200
    assert head.headers == {
        "x-amzn-requestid": "abc",
        "x-amz-crc32": "123",
        "content-length": "2",
        "set-cookie": "a=1, b=2",  # as urllib3's HTTPHeaderDict joins them
    }
    assert (head.length, head.chunked, head.keep_alive) == (2, False, True)


@pytest.mark.parametrize(
    ("raw", "length", "chunked", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5", 5, False, True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5", 5, False, True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5", 5, False, False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 5", 5, False, False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5", 5, False, False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5", 5, False, True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", None, True, True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked", None, True, True),
        # A transfer coding wins over a length; neither: the body ends with the connection.
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9", None, True, True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", None, False, False),
        (b"HTTP/1.1 200 OK\r\nContent-Type: x", None, False, False),
        (b"HTTP/1.1 204 No Content", 0, False, True),
        (b"HTTP/1.1 100 Continue", 0, False, True),
        (b"HTTP/1.1 503", None, False, False),  # no reason phrase: allowed
    ],
)
def test_the_framing_of_a_body(raw, length, chunked, keep_alive):
    head = h.head(raw)
    assert (head.length, head.chunked, head.keep_alive) == (length, chunked, keep_alive)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"ICY 200 OK",
        b"HTTP/2 200 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 20x OK",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 200 OK\r\nno colon here",
        b"HTTP/1.1 200 OK\r\n folded: line",
        b"HTTP/1.1 200 OK\r\nName : spaced",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2",  # a digit to str.isdigit, not to HTTP
    ],
)
def test_what_is_not_an_http_answer_is_malformed(raw):
    with pytest.raises(h.Malformed):
        h.head(raw)


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, pos = [], 0
    for size in sizes:
        piece = body[pos : pos + size]
        if not piece:
            break
        out.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        pos += len(piece)
    if pos < len(body):
        out.append(b"%X\r\n%s\r\n" % (len(body) - pos, body[pos:]))
    return b"".join(out) + b"0\r\nTrailer: x\r\n\r\n"


@given(
    body=st.binary(max_size=300),
    sizes=st.lists(st.integers(1, 64), max_size=8),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_a_chunked_body_is_decoded_however_it_is_cut(body, sizes, cuts):
    data = chunked(body, sizes) + b"NEXT"
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    decoder = h.Dechunker()
    for start, end in itertools.pairwise(points):
        if decoder.feed(data[start:end]):
            break
    else:
        pytest.fail("never complete")
    assert (bytes(decoder.body), decoder.rest + data[end:]) == (body, b"NEXT")


def test_a_chunked_body_fed_byte_by_byte():
    data = chunked(b"x" * 40, [1, 7, 16])
    decoder = h.Dechunker()
    assert [decoder.feed(data[i : i + 1]) for i in range(len(data))] == [False] * (
        len(data) - 1
    ) + [True]
    assert decoder.body == b"x" * 40
    assert decoder.rest == b""


@pytest.mark.parametrize(
    "data",
    [b"zz\r\nab\r\n0\r\n\r\n", b"\r\n", b"2\r\nabXY0\r\n\r\n", b"-2\r\nab\r\n0\r\n\r\n"],
)
def test_what_is_not_chunked_is_malformed(data):
    with pytest.raises(h.Malformed):
        h.Dechunker().feed(data)


def test_a_chunk_line_without_end_is_not_buffered_for_ever():
    decoder = h.Dechunker()
    for _ in range(h.MAX_HEAD // 4096):
        decoder.feed(b"0" * 4096)
    with pytest.raises(h.Malformed):
        decoder.feed(b"0" * 8192)


ANSWERS = {
    "a length": (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", True),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"hello world", [3, 5]),
        True,
    ),
    "after 100 Continue": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        True,
    ),
    "Connection: close": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world",
        False,
    ),
}


@pytest.mark.parametrize("name", ANSWERS)
@given(cuts=st.lists(st.integers(1, 200), max_size=12))
def test_an_answer_is_read_however_it_is_cut(name, cuts):
    data, keep_alive = ANSWERS[name]
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    reader = h.Reader()
    done = [reader.feed(data[start:end]) for start, end in itertools.pairwise(points)]
    assert done == [False] * (len(done) - 1) + [True]
    assert reader.head is not None
    assert (reader.head.status, reader.body, reader.keep_alive) == (200, b"hello world", keep_alive)


def test_an_answer_framed_by_the_close_ends_with_it():
    reader = h.Reader()
    assert not reader.feed(b"HTTP/1.1 200 OK\r\n\r\nhello ")
    assert not reader.feed(b"world")
    assert reader.ended()
    assert (reader.body, reader.keep_alive) == (b"hello world", False)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
)
def test_an_answer_cut_short_by_the_close_is_not_complete(data):
    reader = h.Reader()
    assert not reader.feed(data)
    assert not reader.ended()


def test_bytes_after_the_body_end_the_connection():
    reader = h.Reader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk")
    assert (reader.body, reader.keep_alive) == (b"{}", False)


def test_a_head_that_never_ends_is_not_buffered_for_ever():
    reader = h.Reader()
    assert not reader.feed(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"x" * (h.MAX_HEAD - 40))
    with pytest.raises(h.Malformed):
        reader.feed(b"x" * 100)
