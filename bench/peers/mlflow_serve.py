"""Serve a LightGBM model with ``mlflow models serve`` and load-test it over HTTP on 127.0.0.1.

Runs in the riskline venv (``.venv``: needs numpy, lightgbm, httpx); MLflow itself only ever runs
in its peer venv (``bash bench/peers/setup.sh mlflow``), both to save the model and to serve it,
so the load client and the server never share an interpreter::

    # a demo model: 200 trees, 20 features, trained on random data
    .venv/bin/python bench/peers/mlflow_serve.py --make-demo-model /tmp/m/model.txt
    # save as an MLflow model, serve, measure, shut down; last line is JSON
    .venv/bin/python bench/peers/mlflow_serve.py --model /tmp/m/model.txt --port 5055 --measure
    # or: start and leave running (pid file in --workdir), then stop it
    .venv/bin/python bench/peers/mlflow_serve.py --model /tmp/m/model.txt --port 5055
    .venv/bin/python bench/peers/mlflow_serve.py --port 5055 --stop

``--measure`` sends ``--requests`` sequential one-row POST /invocations (p50/p99), then runs a
closed loop for each client count in ``--clients`` (default 1,2,4,8) for ``--seconds`` each and
takes the best completed-requests/s as ``mlflow_max_rps``. Every loop is bounded in count and
time. From Python: ``with MlflowServer(model_dir, port) as srv: ...`` (see ``save_model``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
REPO_BENCH = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO_BENCH / ".venvs" / "mlflow"
PID_FILE = "mlflow_serve.pid"

SAVE_SCRIPT = """
import sys, warnings
warnings.filterwarnings("ignore")
import lightgbm as lgb
import mlflow.lightgbm
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

booster = lgb.Booster(model_file=sys.argv[1])
names = booster.feature_name()
example = pd.DataFrame(np.zeros((1, len(names))), columns=names)
signature = infer_signature(example, booster.predict(example))
mlflow.lightgbm.save_model(booster, sys.argv[2], signature=signature)
print(",".join(names))
"""


def save_model(model_file: Path, out_dir: Path, venv: Path = DEFAULT_VENV) -> list[str]:
    """Save a LightGBM model file as an MLflow model in ``out_dir`` with the MLflow venv's python.

    Returns the model's feature names. ``out_dir`` must not exist yet (MLflow refuses).
    """
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: run bash bench/peers/setup.sh mlflow")
    done = subprocess.run(
        [str(python), "-c", SAVE_SCRIPT, str(model_file), str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout.strip().splitlines()[-1].split(",")


def _is_our_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"mlflow" in cmdline and b"serve" in cmdline


def stop_pid(pid: int, grace: float = 15.0) -> None:
    """Stop the server process group led by ``pid`` (SIGTERM, then SIGKILL after ``grace`` s)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class MlflowServer:
    """``mlflow models serve`` on 127.0.0.1 in its own process group; a context manager."""

    model_dir: Path
    port: int
    venv: Path = DEFAULT_VENV
    workers: int = 1
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        mlflow = self.venv / "bin" / "mlflow"
        env = dict(os.environ)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env.pop("PYTHONPATH", None)
        log_path = self.log_path or self.model_dir.parent / f"mlflow_serve_{self.port}.log"
        cmd = [
            str(mlflow),
            "models",
            "serve",
            "-m",
            str(self.model_dir),
            "--env-manager",
            "local",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mlflow models serve exited {self.proc.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"no /ping from {self.url} within {timeout} s; log: {log_path}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None

    def __enter__(self) -> MlflowServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def payload(columns: list[str], rows: list[list[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank style percentile (q in 0..100) of an ascending list."""
    if not sorted_ms:
        return float("nan")
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[int(q) - 1]


def make_bodies(columns: list[str], n: int, seed: int = 0) -> list[bytes]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [payload(columns, [row]) for row in rng.standard_normal((n, len(columns))).tolist()]


def measure_sequential(
    url: str, bodies: list[bytes], count: int, max_seconds: float
) -> dict[str, Any]:
    """``count`` sequential one-row requests (after 50 warm-ups), capped at ``max_seconds``."""
    headers = {"Content-Type": "application/json"}
    laps: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=10.0) as client:
        for i in range(min(50, count)):
            client.post("/invocations", content=bodies[i % len(bodies)], headers=headers)
        deadline = time.monotonic() + max_seconds
        for i in range(count):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            r = client.post("/invocations", content=bodies[i % len(bodies)], headers=headers)
            laps.append((time.perf_counter() - t0) * 1000)
            errors += r.status_code != 200
    laps.sort()
    return {
        "mlflow_p50_ms": round(percentile(laps, 50), 3),
        "mlflow_p99_ms": round(percentile(laps, 99), 3),
        "sequential_requests": len(laps),
        "sequential_errors": errors,
    }


def measure_closed_loop(
    url: str, bodies: list[bytes], clients: int, seconds: float, max_requests: int
) -> dict[str, Any]:
    """``clients`` threads each send one request at a time for ``seconds`` (or ``max_requests``)."""
    headers = {"Content-Type": "application/json"}
    lock = threading.Lock()
    laps: list[float] = []
    errors = [0]
    budget = [max_requests]
    start_gate = threading.Barrier(clients + 1, timeout=60)
    stop_at = [0.0]

    def worker(k: int) -> None:
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=url, timeout=10.0) as client:
            with contextlib.suppress(httpx.HTTPError):
                client.post("/invocations", content=bodies[k % len(bodies)], headers=headers)
            start_gate.wait()
            i = k
            while time.monotonic() < stop_at[0]:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                t0 = time.perf_counter()
                try:
                    r = client.post(
                        "/invocations", content=bodies[i % len(bodies)], headers=headers
                    )
                    bad += r.status_code != 200
                except httpx.HTTPError:
                    bad += 1
                mine.append((time.perf_counter() - t0) * 1000)
                i += clients
        with lock:
            laps.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + seconds + 60  # bounds warm-up; reset when the gate opens
    start_gate.wait()
    stop_at[0] = time.monotonic() + seconds
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - t0
    laps.sort()
    ok = len(laps) - errors[0]
    return {
        "clients": clients,
        "requests": len(laps),
        "errors": errors[0],
        "rps": round(ok / elapsed, 1),
        "p50_ms": round(percentile(laps, 50), 3),
        "p99_ms": round(percentile(laps, 99), 3),
    }


def make_demo_model(out: Path, trees: int = 200, features: int = 20, seed: int = 0) -> None:
    """Train a binary LightGBM model on random data and save it with ``booster.save_model``."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20_000, features))
    logit = x[:, :5] @ rng.standard_normal(5) + 0.5 * np.sin(3 * x[:, 5])
    y = (logit + rng.logistic(size=len(x)) > 0).astype(int)
    names = [f"f{i}" for i in range(features)]
    data = lgb.Dataset(x, label=y, feature_name=names)
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1, "seed": seed}
    booster = lgb.train(params, data, num_boost_round=trees)
    out.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out))


def stop_from_pid_file(workdir: Path) -> bool:
    pid_file = workdir / PID_FILE
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    stopped = _is_our_server(pid)
    if stopped:
        stop_pid(pid)
    pid_file.unlink()
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, help="LightGBM model file (booster.save_model)")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the MLflow model, log and pid file go "
        "(default: a folder in the temp dir named after the port)",
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="MLflow peer venv")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--measure", action="store_true", help="serve, load-test, shut down")
    mode.add_argument("--stop", action="store_true", help="stop a server left running")
    mode.add_argument(
        "--make-demo-model",
        type=Path,
        metavar="OUT",
        help="train a 200-tree, 20-feature model on random data into OUT",
    )
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests")
    parser.add_argument("--clients", default="1,2,4,8", help="closed-loop client counts")
    parser.add_argument("--seconds", type=float, default=15.0, help="per closed-loop run")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per closed-loop run")
    args = parser.parse_args(argv)

    if args.make_demo_model:
        make_demo_model(args.make_demo_model)
        print(f"wrote {args.make_demo_model}", file=sys.stderr)
        return 0

    workdir = args.workdir or Path(tempfile.gettempdir()) / f"riskline-mlflow-{args.port}"
    if args.stop:
        stopped = stop_from_pid_file(workdir)
        print(json.dumps({"stopped": stopped, "workdir": str(workdir)}))
        return 0
    if args.model is None:
        parser.error("--model is required unless --stop or --make-demo-model")

    workdir.mkdir(parents=True, exist_ok=True)
    stop_from_pid_file(workdir)  # a server left over on this workdir
    model_dir = workdir / "mlflow_model"
    if model_dir.exists():
        import shutil

        shutil.rmtree(model_dir)
    t0 = time.perf_counter()
    columns = save_model(args.model, model_dir, args.venv)
    save_seconds = time.perf_counter() - t0

    server = MlflowServer(model_dir, args.port, args.venv, args.workers)
    t0 = time.perf_counter()
    server.start()
    startup_seconds = time.perf_counter() - t0
    assert server.proc is not None
    if not args.measure:
        (workdir / PID_FILE).write_text(f"{server.proc.pid}\n")
        print(
            json.dumps(
                {
                    "url": server.url,
                    "pid": server.proc.pid,
                    "workdir": str(workdir),
                    "save_seconds": round(save_seconds, 2),
                    "startup_seconds": round(startup_seconds, 2),
                }
            )
        )
        return 0

    out: dict[str, Any] = {}
    try:
        bodies = make_bodies(columns, 1000)
        first = httpx.post(
            f"{server.url}/invocations",
            content=bodies[0],
            headers={"Content-Type": "application/json"},
            timeout=10.0,
        )
        first.raise_for_status()
        out["sample_response"] = first.json()
        out.update(measure_sequential(server.url, bodies, args.requests, max_seconds=120.0))
        runs = [
            measure_closed_loop(server.url, bodies, int(k), args.seconds, args.max_requests)
            for k in args.clients.split(",")
        ]
    finally:
        server.stop()
    best = max(runs, key=lambda r: r["rps"])
    out.update(
        {
            "closed_loop": runs,
            "mlflow_max_rps_clients": best["clients"],
            "save_seconds": round(save_seconds, 2),
            "startup_seconds": round(startup_seconds, 2),
            "workers": args.workers,
        }
    )
    final = {k: out.pop(k) for k in ("mlflow_p50_ms", "mlflow_p99_ms")}
    final["mlflow_max_rps"] = best["rps"]
    print(json.dumps(out))
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
