"""``python -m bench plans`` runs end to end on the tiny city (no timings judged here): the
publish of the edited district plan and the API edit round trips are reported, and the
bench leaves the store as it found it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from bench import plans as bench_plans

DB = "bench_plans_scratch"


def test_bench_plans_on_the_tiny_city(store: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    url = store.url.render_as_string(hide_password=False)
    with store.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM plans")).scalar_one()
        versions = conn.execute(text("SELECT count(*) FROM areas")).scalar_one()
    bench_plans.main(["--database-url", url, "--repeats", "1", "--merges", "3", "--edits", "4"])
    out = capsys.readouterr().out
    assert "publish of the edited district plan" in out, out
    assert "edit round trip through the API" in out and "over 4 splits" in out, out
    with store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM plans")).scalar_one() == before
        assert conn.execute(text("SELECT count(*) FROM areas")).scalar_one() == versions
