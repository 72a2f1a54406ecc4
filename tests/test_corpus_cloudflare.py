"""detect() over the hand-written Cloudflare corpus in tests/corpus/cloudflare/.

Each entry of ``manifest.json`` names a page file, the status and headers it is served with,
and what :func:`detect` must answer (``null`` for an ordinary page). Entries may ask for the
page to be padded (``pad``: bytes put in place of ``@@PAD@@``, to push markers deep into the
body or build a 100 MB page) or re-encoded (``encoding``). Besides one test per entry, the
whole corpus is scored: precision and recall must both be 1.0.

Run as a script to score another detector (e.g. an older ``_detection.py``)::

    python tests/test_corpus_cloudflare.py [path/to/_detection.py]
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Response, TextResponse

from scrapy_captcha.detect._detection import Challenge, detect

CORPUS = Path(__file__).parent / "corpus" / "cloudflare"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = MANIFEST["pages"]
URL = "https://shop.corpus.test/catalog?page=2"
PLACEHOLDER = b"@@PAD@@"
# Padding that looks like an inline image or font: base64 text, 76 characters a line.
_PAD_LINE = b"iVBORw0KGgoAAAANSUhEUgAAAyAAAAJYCAYAAACadoJwAAAABHNCSVQICAgIfAhkiAAAAAlwSFlz\n"

Detector = Callable[[Response], Challenge | None]


@functools.lru_cache(maxsize=8)
def body_of(file: str, pad: int, encoding: str | None) -> bytes:
    """The page as served: padded in place of ``@@PAD@@``, then re-encoded if asked."""
    raw = (CORPUS / file).read_bytes()
    if pad:
        assert PLACEHOLDER in raw, f"{file} has no {PLACEHOLDER!r} to pad"
        filler = (_PAD_LINE * (pad // len(_PAD_LINE) + 1))[:pad]
        raw = raw.replace(PLACEHOLDER, filler, 1)
    if encoding:
        raw = raw.decode("utf-8").encode(encoding)
    return raw


def response_of(entry: dict[str, Any]) -> Response:
    headers = dict(MANIFEST["header_sets"][entry["headers"]])
    headers.update(entry.get("extra_headers", {}))
    body = body_of(entry["file"], entry.get("pad", 0), entry.get("encoding"))
    # TextResponse for typed text bodies (as Scrapy builds them), a bare Response otherwise.
    cls = TextResponse if "Content-Type" in headers else Response
    return cls(URL, status=entry["status"], headers=headers, body=body)


def expected_of(entry: dict[str, Any]) -> Challenge | None:
    expect = entry["expect"]
    return None if expect is None else Challenge(**expect)


def same(found: Any, expected: Challenge | None) -> bool:
    """Field-wise comparison, so that a detector loaded from another file can be scored."""
    if found is None or expected is None:
        return found is expected
    return (found.kind, found.variant, found.solvable) == (
        expected.kind,
        expected.variant,
        expected.solvable,
    )


def entry_id(entry: dict[str, Any]) -> str:
    return f"{entry['file']}-{entry['status']}-{entry['headers']}"


@dataclass
class Score:
    """Exact-match scoring: a finding with the wrong kind or variant is both a false
    positive (it said something wrong) and a false negative (it missed the right answer)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(detector: Detector) -> tuple[Score, Counter[str], Counter[str], list[str]]:
    """Score ``detector`` over the corpus: totals, per-class hits and sizes, and misses."""
    score, hits, sizes, misses = Score(), Counter[str](), Counter[str](), []
    for entry in ENTRIES:
        expected, found = expected_of(entry), detector(response_of(entry))
        sizes[entry["class"]] += 1
        if same(found, expected):
            hits[entry["class"]] += 1
            if expected is None:
                score.tn += 1
            else:
                score.tp += 1
            continue
        misses.append(f"{entry_id(entry)}: expected {expected}, got {found}")
        if found is not None:
            score.fp += 1
        if expected is not None:
            score.fn += 1
    return score, hits, sizes, misses


def report(detector: Detector) -> Score:
    score, hits, sizes, misses = evaluate(detector)
    for cls in sorted(sizes):
        print(f"  {cls:36} {hits[cls]:3}/{sizes[cls]}")
    for miss in misses:
        print("  MISS", miss)
    print(
        f"  tp={score.tp} fp={score.fp} fn={score.fn} tn={score.tn}"
        f" precision={score.precision:.3f} recall={score.recall:.3f}"
    )
    return score


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry_id(e) for e in ENTRIES])
def test_corpus_page(entry: dict[str, Any]) -> None:
    assert detect(response_of(entry)) == expected_of(entry), entry["note"]


def test_corpus_precision_and_recall() -> None:
    score = report(detect)
    assert score.precision == 1.0
    assert score.recall == 1.0


def test_every_corpus_file_is_in_the_manifest() -> None:
    listed = {entry["file"] for entry in ENTRIES}
    on_disk = {p.name for p in CORPUS.iterdir()} - {"manifest.json", "DECISIONS.md"}
    assert listed == on_disk
    for entry in ENTRIES:
        assert entry["headers"] in MANIFEST["header_sets"], entry
        assert entry["note"], entry


def _load_detector(path: str) -> Detector:
    spec = importlib.util.spec_from_file_location("_detection_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.detect  # type: ignore[no-any-return]


if __name__ == "__main__":
    report(_load_detector(sys.argv[1]) if len(sys.argv) > 1 else detect)
