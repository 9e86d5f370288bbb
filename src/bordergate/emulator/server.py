"""Running the emulator: uvicorn with uvloop and httptools, on a socket we bind ourselves.

Binding the socket before uvicorn starts lets ``--port 0`` pick a free port and report it on
stdout (``bordergate emulator listening on http://HOST:PORT``), which is how tests and
benchmarks start an emulator without racing for a port number.
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from bordergate.emulator.app import DropConnection, EmulatorApp

READY_PREFIX = "bordergate emulator listening on "


class _HideDrops(logging.Filter):
    """Keep uvicorn quiet about connections the emulator dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def make_server(app: EmulatorApp) -> uvicorn.Server:
    """A uvicorn server tuned for throughput: no access log, no lifespan, fast loop and parser."""
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        server_header=False,
    )
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDrops) for f in logger.filters):
        logger.addFilter(_HideDrops())
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = 9000, record: int = 100) -> None:
    """Serve until interrupted; prints the ready line with the real port once listening."""
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    server = make_server(EmulatorApp(record=record))
    print(f"{READY_PREFIX}http://{shown}:{actual}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()
