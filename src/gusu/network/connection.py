"""One TCP/TLS connection as a stream of frames, with bounded buffers both ways.

`FrameProtocol` is an asyncio protocol over a plain TCP transport that runs
TLS itself, through an `ssl.SSLObject` on memory buffers (OpenSSL does the
TLS; this class only moves bytes). That is how asyncio implements TLS too,
but doing it here behaves identically on the default loop and on uvloop
(whose ``start_tls`` on accepted sockets did not take over the stream in our
tests), and it lets the transport see, time and count every TLS failure of
an inbound connection, which a TLS server socket would swallow.

It splits decrypted bytes into frames as they arrive, so an
announced length above the limit is caught from the 4-byte prefix alone,
before a single byte of the oversized frame is buffered. Reading from the
socket pauses while complete frames wait to be handled beyond
``receive_buffer_bytes_max``, which turns a slow handler into TCP
backpressure on the sender instead of memory growth here. Writing follows
the transport's own flow control (`drain`).

Until the application handshake is done frames are parsed one at a time
(the peer's hello, then its key proof), each at most `HELLO_BYTES_MAX`
bytes; the full frame limit applies from `start_session` on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from typing import cast

from gusu.network.messages import HELLO_BYTES_MAX, LENGTH_PREFIX_SIZE, DisconnectReason


class ConnectionEnded(Exception):
    """The connection cannot yield another frame; `reason` says why (a `DisconnectReason`)."""

    def __init__(self, reason: DisconnectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_TLS_READ_BYTES = 256 * 1024


class FrameProtocol(asyncio.Protocol):
    """TLS (on memory buffers) and framing over one TCP connection; see the module docstring."""

    def __init__(
        self,
        receive_buffer_bytes_max: int,
        tls_context: ssl.SSLContext,
        *,
        server_side: bool,
        on_connection_made: Callable[[FrameProtocol], None] | None = None,
    ) -> None:
        self.transport: asyncio.Transport | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = tls_context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self._tls_done = asyncio.Event()
        self._tls_error: BaseException | None = None
        self._tls_closing = False
        self._frame_bytes_max = HELLO_BYTES_MAX
        self._in_session = False
        self._buffer_max = receive_buffer_bytes_max
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()
        self._frames_bytes = 0
        self._violation: ConnectionEnded | None = None
        self._lost: ConnectionEnded | None = None
        self._reading_paused = False
        self._data = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = asyncio.Event()
        self._on_connection_made = on_connection_made

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        if self._on_connection_made is not None:
            self._on_connection_made(self)
        self._step_handshake()  # a client sends its ClientHello now

    def data_received(self, data: bytes) -> None:
        if self._violation is not None or self._lost is not None or self._tls_closing:
            return
        self._incoming.write(data)
        if not self._tls_done.is_set():
            self._step_handshake()
            if not self._tls_done.is_set() or self._tls_error is not None:
                return
        self._read_tls()
        self._parse()

    # --- TLS on memory buffers ---------------------------------------------------------------

    def _flush_tls(self) -> None:
        pending = self._outgoing.read()
        if pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(pending)

    def _step_handshake(self) -> None:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls()
            return
        except (ssl.SSLError, ssl.CertificateError) as error:
            self._tls_error = error
            self._tls_done.set()
            self._flush_tls()  # the alert tells the peer why
            if self.transport is not None:
                self.transport.close()
            return
        self._flush_tls()
        self._tls_done.set()

    def _read_tls(self) -> None:
        while True:
            try:
                chunk = self._tls.read(_TLS_READ_BYTES)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self._peer_closed("the peer closed the TLS session")
                break
            except ssl.SSLError as error:
                # A corrupt or forged record, or an alert after the handshake (in TLS 1.3 the
                # client learns here that the server refused its certificate).
                self._peer_closed(f"TLS error: {error}", DisconnectReason.TLS_FAILED)
                break
            if not chunk:
                self._peer_closed("the peer closed the TLS session")
                break
            self._buffer += chunk
        self._flush_tls()

    def _peer_closed(self, detail: str, reason: DisconnectReason = DisconnectReason.CONNECTION_LOST) -> None:
        if self._lost is None:
            self._lost = ConnectionEnded(reason, detail)
            self._data.set()
        if self.transport is not None:
            self.transport.close()

    async def tls_handshake(self) -> None:
        """Wait for the TLS handshake; ssl.SSLError if it failed, ConnectionEnded if the socket closed."""
        await self._tls_done.wait()
        if self._tls_error is not None:
            raise self._tls_error
        if self._lost is not None and not self._tls.version():
            raise self._lost

    def eof_received(self) -> bool | None:
        return None  # close our side too: a half-open peer connection is of no use

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            detail = f"{type(exc).__name__}: {exc}" if exc is not None else "the peer closed the connection"
            self._lost = ConnectionEnded(DisconnectReason.CONNECTION_LOST, detail)
        self._data.set()
        self._tls_done.set()
        self._writable.set()
        self._closed.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- framing -------------------------------------------------------------------------------

    def _parse(self) -> None:
        buffer = self._buffer
        offset = 0
        size = len(buffer)
        while size - offset >= LENGTH_PREFIX_SIZE:
            if not self._in_session and self._frames:
                break  # one handshake frame at a time before the session starts; see start_session
            length = int.from_bytes(buffer[offset : offset + LENGTH_PREFIX_SIZE], "big")
            if length == 0:
                self._violation = ConnectionEnded(DisconnectReason.MALFORMED_MESSAGE, "a frame of length 0")
                break
            if length > self._frame_bytes_max:
                self._violation = ConnectionEnded(
                    DisconnectReason.FRAME_TOO_LARGE,
                    f"a frame of {length} bytes was announced; the limit is {self._frame_bytes_max}",
                )
                break
            end = offset + LENGTH_PREFIX_SIZE + length
            if end > size:
                break
            self._frames.append(bytes(buffer[offset + LENGTH_PREFIX_SIZE : end]))
            self._frames_bytes += end - offset
            offset = end
        if offset:
            del buffer[:offset]
        if self._violation is not None:
            self._buffer.clear()
        if self._frames or self._violation is not None:
            self._data.set()
        if (
            not self._reading_paused
            and self._frames
            and self._frames_bytes + len(self._buffer) >= self._buffer_max
            and self.transport is not None
        ):
            # Complete frames wait for the handler beyond the limit: stop reading until it catches up.
            self._reading_paused = True
            self.transport.pause_reading()

    def start_session(self, frame_bytes_max: int) -> None:
        """The handshake is done: apply the full frame limit and parse what arrived meanwhile."""
        self._frame_bytes_max = frame_bytes_max
        self._in_session = True
        self._parse()

    async def read_frame(self) -> bytes:
        """The next frame's payload; ConnectionEnded on a framing violation or a lost connection."""
        while True:
            if not self._frames and not self._in_session and self._buffer and self._violation is None:
                self._parse()  # the next handshake frame may have arrived with the previous one
            if self._frames:
                payload = self._frames.popleft()
                self._frames_bytes -= LENGTH_PREFIX_SIZE + len(payload)
                if self._reading_paused and self._frames_bytes + len(self._buffer) < self._buffer_max:
                    self._reading_paused = False
                    if self.transport is not None and self._lost is None:
                        self.transport.resume_reading()
                return payload
            if self._violation is not None:
                raise self._violation
            if self._lost is not None:
                raise self._lost
            self._data.clear()
            await self._data.wait()

    @property
    def buffered_bytes(self) -> int:
        return self._frames_bytes + len(self._buffer)

    # --- writing and closing -----------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._lost is not None

    def write(self, data: bytes) -> bool:
        """Encrypt `data` onto the transport; False if the connection is gone (or TLS is not up)."""
        if (
            self._lost is not None
            or self._tls_closing
            or self.transport is None
            or self.transport.is_closing()
            or not self._tls_done.is_set()
            or self._tls_error is not None
        ):
            return False
        try:
            self._tls.write(data)
        except ssl.SSLError:
            return False
        self._flush_tls()
        return True

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark (or the connection ends)."""
        await self._writable.wait()

    def close(self) -> None:
        """Send TLS close_notify after what was written, then close the socket once flushed."""
        if self.transport is None or self.transport.is_closing():
            return
        if self._tls_done.is_set() and self._tls_error is None and not self._tls_closing:
            self._tls_closing = True
            with contextlib.suppress(ssl.SSLError):  # close_notify is queued; the peer's is not awaited
                self._tls.unwrap()
            self._flush_tls()
        self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        elif self._lost is None:
            self.connection_lost(None)

    async def wait_closed(self, timeout_s: float) -> None:
        """Close gracefully (flushing what was written); cut the connection after `timeout_s`."""
        self.close()
        try:
            async with asyncio.timeout(timeout_s):
                await self._closed.wait()
        except TimeoutError:
            self.abort()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._closed.wait()
            except TimeoutError:
                pass  # the loop never reported the loss; nothing more can be done for this socket

    def peer_certificate_der(self) -> bytes | None:
        """The DER of the certificate the peer presented in the TLS handshake."""
        if not self._tls_done.is_set() or self._tls_error is not None:
            return None
        try:
            der = self._tls.getpeercert(binary_form=True)
        except ValueError:
            return None
        return der if isinstance(der, bytes) else None

    def peer_endpoint(self) -> str:
        if self.transport is None:
            return "?"
        name = self.transport.get_extra_info("peername")
        if isinstance(name, tuple) and len(name) >= 2:
            host = str(name[0])
            return f"[{host}]:{name[1]}" if ":" in host else f"{host}:{name[1]}"
        return "?"
