"""The in-process crawl tests parametrized over REACTORS, on the reactor this session lacks.

A process has one Twisted reactor, and a pytest session installs one (``--reactor``,
asyncio by default). The crawl tests parametrized over ``REACTORS`` run here for that
reactor; their variants for the other reactor (the plain ``SelectReactor`` in the default
session) are skipped here and run, in-process too, by a pytest sub-session started with the
other ``--reactor``. This test passes only when every one of them passed there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import HERE, MATRIX_MARKER, REACTORS, session_reactor

SUB_SESSION_TIMEOUT = 420
#: one sub-session: a second would start (and collect the suite) once more for a few tests
SHARDS = 1


def matrix_ids(items: list[pytest.Item], reactor: str) -> list[str]:
    """Node ids of the collected matrix tests for ``reactor``."""
    return [
        item.nodeid
        for item in items
        if item.get_closest_marker(MATRIX_MARKER)
        and item.callspec.params.get("reactor") == reactor  # type: ignore[attr-defined]
    ]


@pytest.mark.timeout(SUB_SESSION_TIMEOUT + 30)
@pytest.mark.parametrize("shard", range(SHARDS))
def test_crawls_on_the_other_reactor(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    shard: int,
) -> None:
    """Shard ``shard`` of the tests this session skipped (shards run side by side under
    pytest-xdist), or all of them when only this file was selected."""
    [other] = [r for r in REACTORS if r != session_reactor()]
    wanted = matrix_ids(request.session.items, other)[shard::SHARDS]
    if wanted:
        selection = wanted
    elif shard == 0:
        selection = ["-m", MATRIX_MARKER, "-k", other, str(HERE)]
    else:
        pytest.skip("shard 0 runs them all")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--reactor={other}",
            # One process, not the main session's workers and coverage report.
            "-o",
            "addopts=",
            "-p",
            "no:xdist",
            "-p",
            "no:cov",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            f"--basetemp={tmp_path / 'sub'}",
            *selection,
        ],
        capture_output=True,
        text=True,
        timeout=SUB_SESSION_TIMEOUT,
        cwd=str(HERE.parent),
    )
    output = proc.stdout + proc.stderr
    (tmp_path / "sub-session.log").write_text(output)
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    wall = time.monotonic() - started
    record_property(
        "reactor_matrix",
        f"--reactor={other} sub-session {shard + 1}/{SHARDS}: {summary} (wall {wall:.1f} s)",
    )
    assert proc.returncode == 0, output[-8000:]
    passed = re.findall(r"^PASSED (\S+)", output, re.MULTILINE)
    assert passed, output[-8000:]
    assert all(f"[{other}" in nodeid or f"-{other}" in nodeid for nodeid in passed), passed
    if wanted:
        assert sorted(passed) == sorted(wanted), output[-8000:]
