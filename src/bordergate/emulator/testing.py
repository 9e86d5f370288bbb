"""Starting an emulator from tests and benchmarks, on a free port, with guaranteed clean-up.

Two flavours: a separate process (``emulator_process``: the real command, no GIL shared with the
code under test — use it for benchmarks and end-to-end tests) and a thread in the current process
(``emulator_thread``: starts in milliseconds — use it for unit-level tests). Both yield the base
URL, e.g. ``http://127.0.0.1:40123``; the OpenAI SDK wants ``base_url=url + "/v1"``, the
Anthropic SDK ``base_url=url``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bordergate.emulator.app import EmulatorApp
from bordergate.emulator.server import READY_PREFIX, bind, make_server


@contextmanager
def emulator_process(record: int = 100, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``bordergate emulate --port 0`` as a child process; yields its base URL."""
    command = [sys.executable, "-m", "bordergate", "emulate"]
    command += ["--host", host, "--port", "0", "--record", str(record)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith(READY_PREFIX):
            raise RuntimeError(f"emulator did not start (exit {proc.poll()}): {line!r}")
        yield line[len(READY_PREFIX) :].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def emulator_thread(record: int = 100, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the emulator on a background thread of this process; yields its base URL."""
    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = make_server(EmulatorApp(record=record))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        if not server.started:
            raise RuntimeError("emulator thread did not start")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
