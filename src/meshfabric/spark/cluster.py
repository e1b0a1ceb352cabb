"""A standalone Spark cluster on this machine's loopback, from pyspark's bundled launcher.

For tests and benchmarks (and trying the Spark engine without a cluster of one's own): one
master and one worker, each a JVM started by ``<pyspark>/bin/spark-class``, bound to
127.0.0.1 on free ports, and stopped — with the executors the worker started — when the
context exits. Production clusters are started by their operators; point ``engine.master``
at them instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshfabric.spark.session import EngineUnavailable, require_java, require_pyspark


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def standalone_cluster(workdir: Path, *, cores: int = 1, memory: str = "1g", wait: float = 180.0) -> Iterator[str]:
    """Start a master and one worker (``cores``, ``memory``) and yield ``spark://127.0.0.1:PORT``
    once the worker has registered; logs go to ``workdir``. EngineUnavailable when they do not
    come up within ``wait`` seconds (the logs say why)."""
    require_pyspark()
    require_java()
    import pyspark

    home = Path(pyspark.__file__).resolve().parent
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(workdir),
           "SPARK_WORKER_DIR": str(workdir / "work"), "SPARK_NO_DAEMONIZE": "1"}
    port, ui, worker_ui = free_port(), free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    launcher = str(home / "bin" / "spark-class")
    started: list[subprocess.Popen[bytes]] = []

    def launch(name: str, *args: str) -> None:
        with open(workdir / f"{name}.log", "wb") as log:
            # a session of its own: stopping its process group also stops the executors it starts
            started.append(subprocess.Popen([launcher, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def alive_workers() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as answer:
                return int(json.load(answer).get("aliveworkers", 0))
        except (OSError, ValueError):
            return -1

    try:
        launch("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
               "--webui-port", str(ui))
        launch("worker", "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", str(cores),
               "--memory", memory, "--webui-port", str(worker_ui), "--work-dir", str(workdir / "work"))
        until = time.monotonic() + wait
        while alive_workers() < 1:
            if time.monotonic() > until or any(p.poll() is not None for p in started):
                raise EngineUnavailable(f"the local Spark cluster did not start within {wait:g} s",
                                        hint=f"see master.log and worker.log in {workdir}")
            time.sleep(0.5)
        yield url
    finally:
        for process in reversed(started):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
