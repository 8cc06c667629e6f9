"""A far region on one machine: an HTTP/1.1 proxy on 127.0.0.1 that delays every request and caps the
upload rate of each connection, as a long, thin network path would.

    with NetProxy("127.0.0.1", 9000, latency=0.03, rate=4 * 1024 * 1024) as proxy:
        proxy.url  # "http://127.0.0.1:PORT": send requests here; they reach 127.0.0.1:9000

It forwards each client connection over one upstream connection (keep-alive on both sides), with the
request's headers unchanged (SigV4 signatures name the Host the client used, which is the proxy, and the
upstream checks them against what it receives). Every request waits `latency` seconds before it goes
upstream (one round trip). Request bodies are streamed, at most `rate` bytes per second per connection
(a token bucket of 50 ms), and so are answers. `Expect: 100-continue` is answered here, at once after
the latency, and not passed on. Chunked bodies pass through as they come. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import TracebackType

CHUNK = 64 * 1024


class NetProxy:
    """Runs the proxy on its own event-loop thread until `close()` (or the end of a `with` block)."""

    def __init__(
        self, upstream_host: str, upstream_port: int, *, latency: float = 0.0, rate: float | None = None
    ):
        self.upstream = (upstream_host, upstream_port)
        self.latency = latency
        self.rate = rate
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netproxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NetProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=CHUNK * 4, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        upstream_in, upstream_out = await asyncio.open_connection(*self.upstream, limit=CHUNK * 4)
        bucket = _TokenBucket(self.rate)
        try:
            while True:
                head = await _read_head(client_in)
                if head is None:
                    return
                self.requests += 1
                request_line, headers = head
                await asyncio.sleep(self.latency)
                expect = _pop(headers, "expect")
                if expect and expect.lower() == "100-continue":
                    client_out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await client_out.drain()
                upstream_out.write(_head_bytes(request_line, headers))
                await _relay_body(client_in, upstream_out, headers, bucket)
                await upstream_out.drain()
                answer = await _read_head(upstream_in)
                if answer is None:
                    return
                status_line, answer_headers = answer
                client_out.write(_head_bytes(status_line, answer_headers))
                if not request_line.startswith("HEAD ") and _has_body(status_line):
                    await _relay_body(upstream_in, client_out, answer_headers, None)
                await client_out.drain()
                if _closes(answer_headers) or _closes(headers):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            for writer in (client_out, upstream_out):
                with contextlib.suppress(Exception):
                    writer.close()


class _TokenBucket:
    """At most `rate` bytes per second on average (None: no cap). The bucket holds 50 ms worth (at least
    four chunks), so that the event loop's late wake-ups do not lower the rate below the cap."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.capacity = max(4.0 * CHUNK, (rate or 0) * 0.05)
        self.tokens = 0.0
        self.stamp = time.monotonic()

    async def take(self, amount: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= amount
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _head_bytes(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    return (first_line + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n").encode("latin-1")


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _pop(headers: list[tuple[str, str]], name: str) -> str | None:
    value = _get(headers, name)
    headers[:] = [(key, v) for key, v in headers if key.lower() != name]
    return value


def _has_body(status_line: str) -> bool:
    code = status_line.split(" ", 2)[1] if " " in status_line else ""
    return not (code.startswith("1") or code in ("204", "304"))


def _closes(headers: list[tuple[str, str]]) -> bool:
    return (_get(headers, "connection") or "").lower() == "close"


async def _relay_body(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    headers: list[tuple[str, str]],
    bucket: _TokenBucket | None,
) -> None:
    length = _get(headers, "content-length")
    if length is not None:
        remaining = int(length)
        while remaining:
            chunk = await reader.read(min(CHUNK, remaining))
            if not chunk:
                raise ConnectionError("body cut short")
            if bucket is not None:
                await bucket.take(len(chunk))
            writer.write(chunk)
            await writer.drain()
            remaining -= len(chunk)
    elif (_get(headers, "transfer-encoding") or "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            writer.write(size_line)
            size = int(size_line.split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if bucket is not None:
                await bucket.take(size)
            writer.write(data)
            await writer.drain()
            if size == 0:
                return


def main() -> None:
    """`python -m benchmarks.netproxy HOST PORT --latency S --rate BYTES`: print the proxy's port, then
    serve until stdin closes (so that a benchmark can run it in a process of its own)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    with NetProxy(args.host, args.port, latency=args.latency, rate=args.rate or None) as proxy:
        print(proxy.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
