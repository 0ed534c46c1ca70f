"""``python -m bench live`` on the tiny city for a few seconds: the report's numbers make sense
(tiles were requested and answered, the server said hit or miss, the writes landed). No
timing is judged here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bench import live, wrk

DB = "bench_live_scratch"


@pytest.fixture(scope="module")
def report(store: Engine, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if not wrk.available():
        pytest.skip("wrk is not installed (bash scripts/sysdeps.sh --bench, as root)")
    mp = pytest.MonkeyPatch()
    mp.setenv("GISGRID_SECRET_KEY", "bench-live-test-" + "k" * 32)
    out = tmp_path_factory.mktemp("live") / "live.json"
    url = store.url.render_as_string(hide_password=False)
    try:
        live.main(["--database-url", url, "--duration", "3", "--warmup", "1", "--rate", "4",
                   "--clients", "3", "--json", str(out)])  # fmt: skip
    finally:
        mp.undo()
    return list(json.loads(Path(out).read_text()))


def test_both_modes_run_and_browse(report: list[dict]) -> None:
    assert [r["mode"] for r in report] == ["without", "with"]
    for r in report:
        b = r["browsing"]
        assert b["requests"] > 0
        assert b["socket_errors"] == 0 and b["s5xx"] == 0 and b["s4xx"] == 0
        assert 0 < b["p50_ms"] <= b["p95_ms"] <= b["p99_ms"]
        # every answered tile said how it was served, and most came from the cache
        assert b["hits"] + b["misses"] + b["not_modified"] > 0
        assert 0.0 <= r["hit_rate"] <= 1.0
        assert r["distinct_tiles"] > 10


def test_the_writes_landed_in_the_store(report: list[dict], store: Engine) -> None:
    for r in report:
        # 4 a second for 3 s: half reports, half transitions (or reports when none is left)
        assert r["reports"] >= 6
        assert r["reports_landed"] == r["reports"]
        assert not r["failed_writes"]
        assert sum(r["transitions"].values()) + r["reports"] == 12
        assert 0 < r["report_p50_ms"] <= r["report_p95_ms"] and math.isfinite(r["report_p95_ms"])
        assert r["overdue_scheduled"] >= 3
        assert r["reports_alone"] == live.QUIET_REPORTS
        assert 0 < r["report_alone_p50_ms"] <= r["report_alone_p95_ms"]
    with store.connect() as conn:
        sent = conn.execute(
            text("SELECT count(*) FROM incidents WHERE description = 'live bench'")
        ).scalar_one()
    # and before them, in each mode, one warm-up report and the reports sent alone
    assert sent == sum(r["reports"] + 1 + r["reports_alone"] for r in report)
