"""The decision-quality benchmark's recorded cases: this release decides each as its record says.

docs/benchmarks.md reports the benchmark's decisions from the records in
benchmarks/records/decision-quality/ (each a run's results and predictions, and the large-set
score of every strategy it ran). A change that moves any of those decisions fails here: re-judge
the records (`--rejudge ... --records benchmarks/records/decision-quality`, seconds) and update
the tables, so what the documentation claims is always what this release does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDS = sorted((ROOT / "benchmarks" / "records" / "decision-quality").glob("*.json.gz"))


def test_the_benchmark_keeps_its_records():
    assert RECORDS, "benchmarks/records/decision-quality holds no records"


@pytest.mark.parametrize("path", RECORDS, ids=[path.name.removesuffix(".json.gz") for path in RECORDS])
def test_this_release_decides_a_recorded_case_as_recorded(bench, path: Path):
    record = bench.read_record(path)
    recorded, now = record["case"], bench.decide_record(record)
    assert (now.choice, now.recommended, now.regret, list(now.rivals)) == (
        recorded["choice"], recorded["recommended"], recorded["regret"], list(recorded["rivals"])
    )
    assert now.odds == pytest.approx(recorded["odds"])
