"""HTTP/1.1 for the lean transport's direct connections, sans-IO: the bytes of a request, the
head of an answer, and the framing of its body (a length, chunks, or until the close).

Only what a DynamoDB client needs: one ``POST /`` at a time on a keep-alive connection, the
answer's headers by lower-case name (repeated ones joined with ``", "``, as urllib3 joins
them). Anything else a server sends that is not HTTP/1.1 raises :class:`Malformed`, which the
driver treats as a connection that closed mid-answer (as urllib3's ``ProtocolError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_HEAD = 65536
"""The most bytes an answer's head (or a chunk-size line) may take: a server sending more is
not a DynamoDB endpoint, and reading on would only buffer it."""


class Malformed(Exception):
    """Bytes that are not an HTTP/1.1 answer."""


def request(host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The whole ``POST /`` carrying ``body`` (head and body, to send at once): the ``Host``,
    ``headers`` in their order, the ``Content-Length``, and ``Accept-Encoding: identity`` as
    http.client adds it."""
    lines = [f"POST / HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        if "\n" in value or "\r" in value:  # a header of its own, smuggled in (as http.client)
            raise ValueError(f"invalid header value {value!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\nAccept-Encoding: identity\r\n\r\n")
    return "".join(lines).encode("latin-1") + body


@dataclass(frozen=True, slots=True)
class Head:
    """An answer's status line and headers, and how its body is framed: ``length`` bytes,
    ``chunked``, or (neither) until the server closes. ``keep_alive``: the connection may carry
    another request once the body is read."""

    status: int
    headers: dict[str, str]
    length: int | None
    chunked: bool
    keep_alive: bool


def head(data: bytes) -> Head:
    """Read the head ``data`` (up to, not including, the blank line that ends it)."""
    lines = data.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if version[:7] != "HTTP/1." or len(code) != 3 or not code.isdigit() or rest[3:4] not in " ":
        raise Malformed(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    status = int(code)
    if status == 101:
        raise Malformed("a switch of protocol nobody asked for")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():  # no folded or spaced names (RFC 9112)
            raise Malformed(f"not a header line: {line[:80]!r}")
        name = name.lower()
        value = value.strip(" \t")
        if name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
    connection = headers.get("connection", "").lower()
    # HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only if told to.
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    coding = headers.get("transfer-encoding")
    if status < 200 or status in (204, 304):
        return Head(status, headers, 0, False, keep_alive)
    if coding is not None:
        chunked = coding.rpartition(",")[2].strip().lower() == "chunked"
        # Chunked or not, a transfer coding overrides any length (RFC 9112, 6.3).
        return Head(status, headers, None, chunked, keep_alive and chunked)
    length = headers.get("content-length")
    if length is None:
        return Head(status, headers, None, False, False)
    sizes = {v.strip() for v in length.split(",")}  # "5, 5": one length, said twice
    size = sizes.pop() if len(sizes) == 1 else ""
    if not size.isdigit() or not size.isascii():
        raise Malformed(f"not a content length: {length[:80]!r}")
    return Head(status, headers, int(size), False, keep_alive)


class Dechunker:
    """A chunked body, decoded as its bytes arrive: :meth:`feed` them until it returns
    ``True``; then :attr:`body` holds the body, and :attr:`rest` what came after the end."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.rest = b""
        self._buffer = bytearray()
        self._left = 0  # bytes of the current chunk's data still to come
        self._crlf = False  # the CRLF after a chunk's data is next
        self._trailers = False  # past the last chunk: trailer lines until a blank one

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; tell whether the body is complete."""
        buffer = self._buffer
        buffer += data
        pos = 0
        done = False
        while True:
            if self._left:
                take = min(self._left, len(buffer) - pos)
                self.body += buffer[pos : pos + take]
                pos += take
                self._left -= take
                if self._left:
                    break
                self._crlf = True
            if self._crlf:
                if len(buffer) - pos < 2:
                    break
                if buffer[pos : pos + 2] != b"\r\n":
                    raise Malformed("no CRLF after a chunk")
                pos += 2
                self._crlf = False
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                if len(buffer) - pos > MAX_HEAD:
                    raise Malformed("a chunk line too long")
                break
            line = bytes(buffer[pos:end])
            pos = end + 2
            if self._trailers:
                if not line:
                    done = True
                    self.rest = bytes(buffer[pos:])
                    pos = len(buffer)
                    break
                continue  # a trailer field: nothing the store reads
            size = line.split(b";", 1)[0].strip()
            if not size or size.strip(b"0123456789abcdefABCDEF"):
                raise Malformed(f"not a chunk size: {line[:80]!r}")
            self._left = int(size, 16)
            self._trailers = self._left == 0
        del buffer[:pos]
        return done


class Reader:
    """One answer read as its bytes arrive, whichever way they are received (a socket's
    ``recv``, an asyncio protocol's ``data_received``): :meth:`feed` them until it returns
    ``True``, or, if the server closes first, ask :meth:`ended` whether that completed the
    answer. Then :attr:`head` and :attr:`body` are the answer, and :attr:`keep_alive` tells
    whether the connection may carry another request. Interim (1xx) answers are skipped, as
    http.client skips ``100 Continue``."""

    def __init__(self) -> None:
        self.head: Head | None = None
        self.body = b""
        self.keep_alive = False
        self._data = b""  # the head so far
        self._pieces: list[bytes] = []  # the body so far (a length, or until the close)
        self._got = 0
        self._chunks: Dechunker | None = None

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; tell whether the answer is complete."""
        found = self.head
        if found is None:
            data = self._data + data if self._data else data
            while True:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    if len(data) > MAX_HEAD:
                        raise Malformed("an answer's head too long")
                    self._data = data
                    return False
                found = head(data[:end])
                data = data[end + 4 :]
                if found.status >= 200:
                    break
            self.head = found
            self._data = b""
            if found.chunked:
                self._chunks = Dechunker()
        if found.length is not None:
            self._pieces.append(data)
            self._got += len(data)
            if self._got < found.length:
                return False
            body = b"".join(self._pieces) if len(self._pieces) > 1 else data
            self.body = body[: found.length]
            # Bytes after the body are no answer to anything: the connection is not reused.
            self.keep_alive = found.keep_alive and len(body) == found.length
            return True
        chunks = self._chunks
        if chunks is not None:
            if not chunks.feed(data):
                return False
            self.body = bytes(chunks.body)
            self.keep_alive = found.keep_alive and not chunks.rest
            return True
        self._pieces.append(data)  # until the server closes
        return False

    def ended(self) -> bool:
        """The server closed the connection: tell whether that completed the answer (one
        framed by the close); if not, the answer was cut short."""
        found = self.head
        if found is None or found.length is not None or found.chunked:
            return False
        self.body = b"".join(self._pieces)
        self.keep_alive = False
        return True
