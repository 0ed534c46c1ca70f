"""Account files: an import is all or nothing with every bad row named, from CSV or XLSX,
with the codes written before the commit; an export reads back as it was written."""

from __future__ import annotations

import csv
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from sqlalchemy import Engine, text

from gisgrid.access import accounts as acc
from gisgrid.access import auth
from gisgrid.errors import InvalidInput, LoadError
from gisgrid.io.accounts import export_accounts, import_accounts
from gisgrid.store.cluster import Cluster
from tests.city_support import tiny_city

HEADER = "username,role,scope_code,unit_code,display_name\n"


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "accounts_file_scratch") as engine:
        yield engine


@pytest.fixture(scope="module")
def code(store: Engine) -> dict[str, str]:
    """One current area code per level, and a unit's code."""
    with store.connect() as conn:
        out = dict(
            conn.execute(
                text(
                    "SELECT DISTINCT ON (level) level, code FROM areas"
                    " WHERE valid_to IS NULL ORDER BY level, id"
                )
            ).all()
        )
        out["unit"] = conn.execute(text("SELECT code FROM units ORDER BY id LIMIT 1")).scalar_one()
    return out


def _count(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM accounts")).scalar_one())


def _bad_file(tmp_path: Path, code: dict[str, str]) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(
        HEADER
        + f"bf_ok1,grid_worker,{code['grid']},,\n"  # line 2: fine
        + f"bf_bad1,boss,{code['grid']},,\n"  # line 3: unknown role
        + "bf_bad2,grid_worker,nowhere,,\n"  # line 4: unknown scope code
        + f"bf_bad3,street_centre,{code['grid']},,\n"  # line 5: a grid for a street centre
        + f"bf_bad4,unit,{code['street']},U-nope,\n"  # line 6: unknown unit
        + f"bf_ok1,community,{code['community']},,\n"  # line 7: username twice in the file
        + "admin,admin,,,\n"  # line 8: username already in the store
        + f"bf_ok2,unit,{code['street']},{code['unit']},派出所\n",  # line 9: fine
        encoding="utf-8",
    )
    return path


def test_every_bad_row_is_named_and_nothing_is_written(
    store: Engine, code: dict[str, str], tmp_path: Path
) -> None:
    path = _bad_file(tmp_path, code)
    codes = tmp_path / "codes.csv"
    before = _count(store)
    with pytest.raises(LoadError) as info:
        import_accounts(store, path, codes_path=codes)
    got = [(row, field) for row, field, _ in info.value.rows]
    assert got == [
        (3, "role"),
        (4, "scope_code"),
        (5, "scope_code"),
        (6, "unit_code"),
        (7, "username"),
        (8, "username"),
    ]
    reasons = {row: why for row, _, why in info.value.rows}
    assert reasons[3].startswith("unknown role 'boss'")
    assert reasons[4].startswith("unknown scope code 'nowhere'")
    assert reasons[5] == (f"a street_centre's scope must be a street; {code['grid']!r} is a grid")
    assert reasons[6].startswith("unknown unit code 'U-nope'")
    assert reasons[7] == "duplicate username 'bf_ok1' in the file (first on row 2)"
    assert reasons[8] == "'admin' is already an account in the store"
    assert _count(store) == before
    assert not codes.exists()


def test_a_missing_column_is_named_once(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("username,scope_code\nx1,230100\n", encoding="utf-8")
    with pytest.raises(LoadError) as info:
        import_accounts(store, path)
    assert info.value.rows == [(0, "role", "required column 'role' is missing from the file")]


def test_a_good_file_is_created_with_codes_that_work(
    store: Engine, code: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        "Username , ROLE,scope_code,unit_code,display_name,active\n"
        + "".join(f"gf_{i},grid_worker,{code['grid']},,网格员{i},yes\n" for i in range(50))
        + f"gf_unit,unit,{code['district']},{code['unit']},,\n",
        encoding="utf-8",
    )
    codes = tmp_path / "codes.csv"
    before = _count(store)
    report = import_accounts(store, path, codes_path=codes)
    assert report.rows == 51 and _count(store) == before + 51
    assert report.ignored_columns == ("active",)
    assert stat.S_IMODE(codes.stat().st_mode) == 0o600
    with codes.open(newline="", encoding="utf-8") as fh:
        handed_out = list(csv.DictReader(fh))
    assert [r["username"] for r in handed_out] == [f"gf_{i}" for i in range(50)] + ["gf_unit"]
    with store.begin() as conn:
        acc.activate(conn, "gf_7", handed_out[7]["activation_code"], "gf 7 long password")
    with store.connect() as conn:
        assert auth.authenticate(conn, "gf_7", "gf 7 long password").display_name == "网格员7"
    with pytest.raises(InvalidInput) as again:
        import_accounts(store, path, codes_path=codes)
    assert again.value.field == "codes"  # never written over, even before the rows are read


def test_a_spreadsheet_is_read_like_a_csv_with_its_own_row_numbers(
    store: Engine, code: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "accounts.xlsx"
    df = pd.DataFrame(
        {
            "username": ["xl_1", None, "xl_2", "xl_3"],
            "role": ["grid_worker", None, "district_centre", "grid_worker"],
            # text cells of digits stay text: the codes are not numbers to GDAL's reader
            "scope_code": [code["grid"], None, code["grid"], code["grid"]],
        }
    )
    pyogrio.write_dataframe(df, path, driver="XLSX", layer="accounts")
    with pytest.raises(LoadError) as info:
        import_accounts(store, path)
    # the header is sheet row 1; the blank row 3 is skipped, not an account
    assert [(r, f) for r, f, _ in info.value.rows] == [(4, "scope_code")]
    df.loc[2, "role"] = "grid_worker"
    path.unlink()
    pyogrio.write_dataframe(df, path, driver="XLSX", layer="accounts")
    report = import_accounts(store, path)
    assert [a.username for a in report.activations] == ["xl_1", "xl_2", "xl_3"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_imports_back_into_an_empty_store(
    store: Engine, cluster: Cluster, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"accounts{suffix}"
    n = export_accounts(store, path)
    entries = acc.account_entries(store)
    assert n == len(entries)
    with tiny_city(cluster, "accounts_file_reimport") as fresh:
        with fresh.begin() as conn:
            # not TRUNCATE ... CASCADE: that would follow plans.author_id and areas.plan_id and
            # empty the areas too; the rows naming an account are emptied or unlinked instead
            conn.execute(text("TRUNCATE visit_logs, audit_log"))
            for table, column in (
                ("incidents", "reporter_id"),
                ("incident_events", "actor_id"),
                ("plans", "author_id"),
            ):
                conn.execute(text(f"UPDATE {table} SET {column} = NULL"))
            conn.execute(text("DELETE FROM accounts"))
        report = import_accounts(fresh, path)
        back = acc.account_entries(fresh)
    assert report.rows == n
    assert set(report.ignored_columns) == {
        "scope_level",
        "active",
        "password_set",
        "activation_pending",
        "activation_expires_at",
    }

    def key(e: acc.AccountEntry) -> tuple[str | None, ...]:
        return (e.username, e.role, e.scope_code, e.unit_code, e.display_name)

    assert [key(e) for e in back] == [key(e) for e in entries]


def test_export_refuses_a_format_it_does_not_write(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        export_accounts(store, tmp_path / "accounts.gpkg")
    assert info.value.field == "file"
