"""A delay line: a TCP proxy that puts a server `rtt_s` of round trip away, as a server across the network is.

Every chunk that arrives from either side is handed on `rtt_s / 2` after it arrived, in order, while the proxy
keeps reading, so data in flight overlaps the way it does on a long link: a client that pipelines its commands
pays one round trip for the whole group, one that waits for each reply pays one per command. A close travels the
same way (the other side is closed half a round trip later). This models network distance, unlike a server that
sleeps before answering (aiosmtpd answers pipelined commands one after the other, so server think time cannot be
hidden by pipelining; see the platform notes on latency injection).

No library does this for us: toxiproxy (its `latency` toxic does the same) is a Go service that is not installed
here, and the Python packages that wrap it need it running.

Use: `with FakeSmtpServer("plain") as server, DelayLine(server.port, 0.025) as line:` and point the client at
`line.port`. `reads` records each chunk the client sent (as the proxy read it), with the connection's number.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any


class DelayLine:
    """A proxy on 127.0.0.1 (a free port) in front of `target_host:target_port`, `rtt_s` of round trip away."""

    def __init__(self, target_port: int, rtt_s: float, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.one_way_s = rtt_s / 2
        self.port = 0
        #: (connection number, bytes) of each chunk read from a client, in order.
        self.reads: list[tuple[int, bytes]] = []
        self._connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> DelayLine:
        self._thread = threading.Thread(target=self._serve, name="delay-line", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("the delay line did not start")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> DelayLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
            sock: socket.socket = self._server.sockets[0]
            self.port = int(sock.getsockname()[1])
            self._ready.set()
            loop.run_forever()
        finally:
            self._ready.set()
            if self._server is not None:
                self._server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    # -- one connection ---------------------------------------------------------------------------------
    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, number),
                self._pipe(server_reader, client_writer, None),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            pass  # the line is stopping (asyncio's stream callback would report a cancelled task as an error)
        finally:
            _close(client_writer)
            _close(server_writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int | None) -> None:
        """Read from one side and hand each chunk to the other side `one_way_s` after it arrived."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        delivering = loop.create_task(self._deliver(queue, writer))
        try:
            while True:
                try:
                    chunk = await reader.read(65536)
                except OSError:
                    chunk = b""
                if chunk and number is not None:
                    self.reads.append((number, chunk))
                queue.put_nowait((loop.time() + self.one_way_s, chunk))
                if not chunk:
                    break
            await delivering
        finally:
            delivering.cancel()

    async def _deliver(self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    return  # the far side closed: so does this one, half a round trip later
                writer.write(chunk)
                await writer.drain()
        except OSError:
            return
        finally:
            _close(writer)


def _close(writer: Any) -> None:
    with contextlib.suppress(Exception):
        writer.close()
