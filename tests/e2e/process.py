"""Run the service as a real uvicorn process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.serving.conftest import KEYS

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def key_spec() -> str:
    from riskline.serving import hash_key

    return ",".join(f"{role}-key:{role}:{hash_key(key)}" for role, key in KEYS.items())


class ServerProcess:
    """``python -m tests.e2e.server PORT`` with ``RISKLINE_HOME=home``; waits for /healthz."""

    def __init__(self, home: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "RISKLINE_HOME": str(home),
            "RISKLINE_API_KEYS": key_spec(),
            # this checkout's code, not only the one the environment is installed from
            "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "src"))),
            **(extra_env or {}),
        }
        self._stderr = (home / f"server-{port}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.server", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        """Up to a minute: a start imports and JIT-compiles for ~4 s on an idle 2-core machine,
        several times that beside the other test worker."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server on port {self.port} did not start in {timeout_s} s")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._stderr.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
        self._stderr.close()
