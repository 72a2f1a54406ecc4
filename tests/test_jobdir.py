"""JOBDIR: a job paused (one SIGINT) while requests wait for a solve loses none of them.

A process boundary is the point here: the pause is a real signal to a real crawl process,
and the resumed job is a new process reading the same job directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import HERE
from scrapy_captcha.testing import EmulatorStack

N = 30


def spec(stack: EmulatorStack, jobdir: Path) -> dict[str, Any]:
    return {
        "reactor": "asyncio",
        "settings": {
            **stack.scrapy_settings(),
            "JOBDIR": str(jobdir),
            "CAPTCHA_SOLVE_TIMEOUT": 60,
            "CONCURRENT_REQUESTS": 4,
        },
        "batches": [
            {
                "requests": [
                    {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
                    for i in range(N)
                ]
            }
        ],
    }


def start(tmp: Path, name: str, data: dict[str, Any]) -> tuple[subprocess.Popen[bytes], Path]:
    spec_path, out = tmp / f"{name}.json", tmp / f"{name}.out.json"
    spec_path.write_text(json.dumps(data))
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crawl_runner.py"), str(spec_path), str(out)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(HERE.parent),
        env=env,
    )
    return proc, out


def wait_for(check: Any, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_pause_while_waiting_for_a_solve_then_resume_delivers_every_request(
    tmp_path: Path,
) -> None:
    jobdir = tmp_path / "job"
    with EmulatorStack(solve_latency=0.05) as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold()  # the first run's solve never lands
        proc, out = start(tmp_path, "first", spec(stack, jobdir))
        log = tmp_path / "first.log"
        try:
            # Every request has met the challenge and waits, parked, for the solve.
            wait_for(lambda: log.read_text(errors="replace").count("Parked <GET") >= N)
            proc.send_signal(signal.SIGINT)  # one Ctrl-C: a graceful pause
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        first = json.loads(out.read_text())
        assert first["pages"] == [] and first["errors"] == []
        assert first["stats"].get("captcha/requeued_on_close") == N
        assert first["reason"] == "shutdown"

        stack.solver.release()
        proc, out = start(tmp_path, "second", spec(stack, jobdir))
        assert proc.wait(timeout=120) == 0
        second = json.loads(out.read_text())
    urls = sorted(p["url"] for p in second["pages"])
    assert urls == sorted(f"http://shop.example/p/{i}" for i in range(N))
    assert all(p["status"] == 200 for p in second["pages"])
    assert second["errors"] == []
    # The resumed spider yields its start requests again; the job's dupefilter has seen
    # them and drops them: the pages came from the requests the pause put in the queue.
    assert sorted(second["dropped"]) == urls
