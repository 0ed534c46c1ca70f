"""Account import benchmark: 48,626 accounts (Harbin's 31,501 grid workers and 17,125
command-centre accounts) from CSV and XLSX, beside what the same import costs done the
obvious ways.

Run as ``python -m bench.accounts [--rows N]``. It starts its own throwaway PostGIS cluster
under /tmp, writes the tiny synthetic city (its areas and units are the scope and unit
codes), generates N accounts against them (grid workers on grids, centre accounts on
communities, streets, districts and the city, some unit accounts) as CSV and XLSX, and
times in one run:

- ``gisgrid.io.accounts.import_accounts`` from CSV and from XLSX: every row checked, one
  transaction, a one-time activation code per account (SHA-256 stored), codes file written;
- the same accounts created one call at a time (``create_accounts`` per account, each its
  own transaction), timed on a sample and scaled to N;
- an argon2 password hash per account, as an import that set passwords would need
  (``hash_password``, argon2-cffi's defaults), timed on a sample and scaled to N.

The goal from issue 14 is at most 60 s for 48,626 accounts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

PORT = 55495
HARBIN_ACCOUNTS = 48_626
GRID_WORKERS = 31_501
SAMPLE_ONE_BY_ONE = 300
SAMPLE_ARGON2 = 20


def make_accounts(areas: pd.DataFrame, unit_codes: list[str], n: int) -> pd.DataFrame:
    """N accounts: grid workers in Harbin's proportion, the rest centre and unit accounts."""
    by_level = {lvl: list(g["code"]) for lvl, g in areas.groupby("level")}
    role_of = {
        "community": "community",
        "street": "street_centre",
        "district": "district_centre",
        "city": "city_centre",
    }
    workers = round(n * GRID_WORKERS / HARBIN_ACCOUNTS)
    rows = []
    grids = by_level["grid"]
    for i in range(workers):
        rows.append((f"gw_{i:06d}", "grid_worker", grids[i % len(grids)], None, f"网格员{i}"))
    levels = list(role_of)
    for j in range(n - workers):
        if j % 20 == 19 and unit_codes:
            unit = unit_codes[j % len(unit_codes)]
            rows.append((f"unit_{j:06d}", "unit", by_level["street"][0], unit, f"单位{j}"))
            continue
        level = levels[j % len(levels)]
        codes = by_level[level]
        rows.append((f"cc_{j:06d}", role_of[level], codes[j % len(codes)], None, f"中心{j}"))
    return pd.DataFrame(
        rows, columns=["username", "role", "scope_code", "unit_code", "display_name"]
    )


def run(n: int) -> list[tuple[str, float, int, str]]:
    import pyogrio
    from sqlalchemy import text

    from gisgrid.access.accounts import NewAccount, create_accounts
    from gisgrid.access.auth import hash_password
    from gisgrid.io.accounts import import_accounts
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine
    from gisgrid.synth import generate
    from gisgrid.synth.store import write_city

    base = Path(tempfile.mkdtemp(prefix="gisgrid-bench-", dir="/tmp"))
    cluster = Cluster(base=base, port=PORT)
    results: list[tuple[str, float, int, str]] = []
    try:
        print(f"starting a throwaway PostGIS in {base} ...")
        cluster.up()
        engine = make_engine(cluster.url())
        print("writing the tiny synthetic city (areas and units) ...")
        write_city(engine, generate("tiny", seed=5))
        with engine.connect() as conn:
            areas = pd.DataFrame(
                conn.execute(text("SELECT code, level FROM areas WHERE valid_to IS NULL")).all(),
                columns=["code", "level"],
            )
            units = [str(c) for c in conn.execute(text("SELECT code FROM units")).scalars()]
        df = make_accounts(areas, units, n)
        files = base / "files"
        files.mkdir()
        csv_path, xlsx_path = files / "accounts.csv", files / "accounts.xlsx"
        df.to_csv(csv_path, index=False)
        pyogrio.write_dataframe(df, xlsx_path, driver="XLSX", layer="accounts")

        def reset() -> None:
            # the city's own accounts go too (with the incidents and logs that name them)
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE accounts CASCADE"))
                conn.execute(text("CHECKPOINT"))

        for label, path in (("CSV", csv_path), ("XLSX", xlsx_path)):
            reset()
            codes = files / f"codes-{label}.csv"
            t0 = time.perf_counter()
            report = import_accounts(engine, path, codes_path=codes)
            secs = time.perf_counter() - t0
            results.append((f"gisgrid import_accounts {label}", secs, report.rows, "measured"))
            print(f"  import {label}: {secs:.1f} s")

        reset()
        head = df.head(SAMPLE_ONE_BY_ONE).astype(object)
        sample = [NewAccount(*r) for r in head.where(head.notna(), None).itertuples(index=False)]
        t0 = time.perf_counter()
        for row in sample:
            create_accounts(engine, [row])
        per = (time.perf_counter() - t0) / len(sample)
        results.append(("create_accounts one at a time", per * n, n, f"{len(sample)} timed"))
        print(f"  one at a time: {per * 1000:.1f} ms per account")

        t0 = time.perf_counter()
        for i in range(SAMPLE_ARGON2):
            hash_password(f"initial password {i}")
        per = (time.perf_counter() - t0) / SAMPLE_ARGON2
        results.append(("argon2 hash per account", per * n, n, f"{SAMPLE_ARGON2} timed"))
        print(f"  argon2: {per * 1000:.0f} ms per password")
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    return results


def report(n: int, results: list[tuple[str, float, int, str]]) -> str:
    ours = next(secs for tool, secs, _, _ in results if tool.endswith("CSV"))
    lines = [
        f"account import benchmark: {n:,} accounts, {os.cpu_count()} cores (goal: <= 60 s)",
        f"{'how':<34}{'seconds':>10}{'accounts/s':>12}{'time / CSV':>12}  basis",
    ]
    for tool, secs, rows, basis in results:
        lines.append(f"{tool:<34}{secs:>10.1f}{rows / secs:>12,.0f}{secs / ours:>12.1f}  {basis}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=HARBIN_ACCOUNTS)
    args = parser.parse_args(argv)
    results = run(args.rows)
    print()
    print(report(args.rows, results))


if __name__ == "__main__":
    main()
