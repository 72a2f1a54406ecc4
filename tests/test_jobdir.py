"""JOBDIR: a job paused (one SIGINT) while requests wait for a solve loses none of them.

A process boundary is the point here: the pause is a real signal to a real crawl process,
and the resumed job is a new process reading the same job directory.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from processes import CrawlProcess, wait_until
from scrapy_captcha.testing import EmulatorStack

N = 30


def spec(stack: EmulatorStack, jobdir: Path, n: int = N) -> dict[str, Any]:
    return {
        "reactor": "asyncio",
        "settings": {
            **stack.scrapy_settings(),
            "JOBDIR": str(jobdir),
            "LOG_LEVEL": "DEBUG",  # (the tests wait for its "Parked" / "Crawled" lines)
            "CAPTCHA_SOLVE_TIMEOUT": 60,
            "CONCURRENT_REQUESTS": 4,
        },
        "batches": [
            {
                "requests": [
                    {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
                    for i in range(n)
                ]
            }
        ],
    }


def test_pause_while_waiting_for_a_solve_then_resume_delivers_every_request(
    tmp_path: Path, procs: list[CrawlProcess]
) -> None:
    jobdir = tmp_path / "job"
    with EmulatorStack(solve_latency=0.05) as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold()  # the first run's solve never lands
        first = CrawlProcess(tmp_path / "first", **spec(stack, jobdir))
        procs.append(first)
        # Every request has met the challenge and waits, parked, for the solve.
        wait_until(lambda: first.log_text().count("Parked <GET") >= N)
        first.proc.send_signal(signal.SIGINT)  # one Ctrl-C: a graceful pause
        paused = first.result(timeout=60)  # (exit status 0, or it raises)
        assert paused.pages == [] and paused.errors == []
        assert paused.stat("captcha/requeued_on_close") == N
        assert paused.reason == "shutdown"

        stack.solver.release()
        second = CrawlProcess(tmp_path / "second", **spec(stack, jobdir))
        procs.append(second)
        resumed = second.result(timeout=120)
    urls = sorted(p["url"] for p in resumed.pages)
    assert urls == sorted(f"http://shop.example/p/{i}" for i in range(N))
    assert all(p["status"] == 200 for p in resumed.pages)
    assert resumed.errors == []
    # The resumed spider yields its start requests again; the job's dupefilter has seen
    # them and drops them: the pages came from the requests the pause put in the queue.
    assert sorted(resumed.dropped) == urls


def test_a_resumed_job_reuses_the_clearance_the_paused_one_bought(
    tmp_path: Path, procs: list[CrawlProcess]
) -> None:
    """Issue 16 #14: every JOBDIR resume paid for a new solve of a route whose clearance,
    bought minutes before, was still valid. The default store keeps it on disk."""
    jobdir = tmp_path / "job"
    store = {"CAPTCHA_CACHE_URL": f"file://{tmp_path / 'captcha'}"}
    with EmulatorStack(solve_latency=0.05) as stack:
        stack.site.add_host("shop.example")
        run = spec(stack, jobdir, 12)
        run["settings"].update(store, CONCURRENT_REQUESTS=1, DOWNLOAD_DELAY=0.1)
        first = CrawlProcess(tmp_path / "first", **run)
        procs.append(first)
        # The solve has landed and a few pages came through with its clearance: pause.
        wait_until(lambda: first.log_text().count("Crawled (200)") >= 3)
        first.proc.send_signal(signal.SIGINT)
        paused = first.result(timeout=60)
        assert paused.reason == "shutdown" and stack.solver.create_task_count == 1
        second = CrawlProcess(tmp_path / "second", **run)
        procs.append(second)
        resumed = second.result(timeout=120)
    delivered = {p["url"] for p in paused.pages} | {p["url"] for p in resumed.pages}
    assert delivered == {f"http://shop.example/p/{i}" for i in range(12)}
    assert all(p["status"] == 200 for p in resumed.pages) and resumed.pages
    assert stack.solver.create_task_count == 1  # the resumed job paid nothing
    assert resumed.stat("captcha/solver/createTask") == 0
