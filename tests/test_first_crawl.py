"""A first crawl, as a new user runs it: ``scrapy startproject``, the add-on enabled in
``ADDONS``, ``scrapy crawl`` / ``scrapy settings`` from the shell, and the example
project's demo. Subprocesses: the process (its exit code, what it prints) is the point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SCRAPY = [sys.executable, "-m", "scrapy.cmdline"]

SPIDER = """
import scrapy

class First(scrapy.Spider):
    name = "first"
    start_urls = ["http://127.0.0.1:9/"]

    def parse(self, response):
        yield {"url": response.url}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    subprocess.run(
        [*SCRAPY, "startproject", "first"],
        cwd=tmp_path,
        check=True,
        timeout=60,
        capture_output=True,
    )
    root = tmp_path / "first"
    settings = root / "first" / "settings.py"
    settings.write_text(settings.read_text() + '\nADDONS = {"scrapy_captcha.Addon": 500}\n')
    (root / "first" / "spiders" / "first.py").write_text(SPIDER)
    return root


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}
    return subprocess.run(
        [*SCRAPY, *args], cwd=project, capture_output=True, text=True, timeout=120, env=env
    )


def test_scrapy_settings_shows_the_add_on_defaults(project: Path) -> None:
    """Issue 16 #12: ``scrapy settings --getint CAPTCHA_MAX_ATTEMPTS`` printed 0."""
    assert run(project, "settings", "--getint", "CAPTCHA_MAX_ATTEMPTS").stdout.strip() == "3"
    got = run(project, "settings", "--get", "CAPTCHA_MAX_ATTEMPTS", "-s", "CAPTCHA_MAX_ATTEMPTS=7")
    assert got.stdout.strip() == "7"


def test_a_typo_in_the_chain_stops_scrapy_crawl_with_exit_code_1(project: Path) -> None:
    """Issue 16 #1 and #12: one ERROR at the first challenge, every page passed on; and a
    chained traceback without "did you mean". Now the crawl does not start."""
    proc = run(
        project,
        "crawl",
        "first",
        "-s",
        "CAPTCHA_PROVIDERS=1captcha,capsolvr",
        "-s",
        "CAPTCHA_API_KEY=k3y-s3cret",
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("scrapy_captcha.errors.ConfigurationError: CAPTCHA_PROVIDERS:")
    assert "did you mean 'capsolver'?" in last
    assert "During handling of the above exception" not in proc.stderr
    assert "k3y-s3cret" not in proc.stderr + proc.stdout
    assert "Spider opened" not in proc.stderr  # never started


def test_the_demo_shows_a_first_crawls_mistakes() -> None:
    proc = subprocess.run(
        [sys.executable, "example_project/demo.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    told = out[out.index("A first crawl's mistakes") :]
    assert "the crawl did not start: CAPTCHA_PROVIDERS: unknown service 'capsolvr'" in told
    assert "did you mean 'capsolver'?" in told
    assert "the crawl closed (captcha_solver_unavailable)" in told
    assert "No usable solver account is left (1captcha: bad_key)" in told
    assert "errback: CaptchaUnsolved(no_task)" in told
    assert "a quiet failure" not in told
