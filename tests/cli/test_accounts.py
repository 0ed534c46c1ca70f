"""``gisgrid accounts create|import|export|deactivate|reactivate|rescope|activate``: the
commands pass through to the library and say what happened; a bad file exits 1 with a
table of its bad rows."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from gisgrid.access import auth
from gisgrid.cli import io as cli_io
from gisgrid.cli.main import app
from gisgrid.errors import NotAuthenticated
from gisgrid.store.cluster import Cluster
from tests.city_support import tiny_city

DB = "cli_accounts_scratch"
Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, DB) as engine:
        yield engine


@pytest.fixture()
def run(store: Engine, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname=DB))
    monkeypatch.setattr(cli_io.console, "width", 240)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def _grid_codes(store: Engine) -> list[str]:
    with store.connect() as conn:
        return list(
            conn.execute(
                text("SELECT code FROM areas WHERE level = 'grid' AND valid_to IS NULL ORDER BY id")
            ).scalars()
        )


def _signs_in(store: Engine, username: str, password: str) -> bool:
    with store.connect() as conn:
        try:
            auth.authenticate(conn, username, password)
        except NotAuthenticated:
            return False
    return True


def test_create_then_activate_then_deactivate(run: Invoke, store: Engine) -> None:
    grid = _grid_codes(store)[0]
    made = run("accounts", "create", "cli_w1", "--role", "grid_worker", "--scope", grid)
    assert made.exit_code == 0, made.output
    code = made.stdout.strip().splitlines()[-1]
    assert len(code) == 19 and code.count("-") == 3
    wrong = run(
        "accounts", "activate", "cli_w1", "--code", "0000-0000-0000-0000", "--password-stdin",
        input="cli w1 password\n",
    )  # fmt: skip
    assert wrong.exit_code == 1 and "incorrect username or activation code" in wrong.output
    ok = run(
        "accounts", "activate", "cli_w1", "--code", code, "--password-stdin",
        input="cli w1 password\n",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert _signs_in(store, "cli_w1", "cli w1 password")
    off = run("accounts", "deactivate", "cli_w1")
    assert off.exit_code == 0 and "deactivated" in off.output
    assert not _signs_in(store, "cli_w1", "cli w1 password")
    on = run("accounts", "reactivate", "cli_w1")
    assert on.exit_code == 0
    assert _signs_in(store, "cli_w1", "cli w1 password")


def test_create_names_the_broken_rule(run: Invoke, store: Engine) -> None:
    street = run("accounts", "create", "cli_w2", "--role", "grid_worker", "--scope", "230100")
    assert street.exit_code == 1
    assert "scope_code" in street.output and "must be a grid" in street.output


def test_rescope_and_a_new_code(run: Invoke, store: Engine) -> None:
    first, second = _grid_codes(store)[:2]
    assert run("accounts", "create", "cli_w3", "--role", "grid_worker", "--scope", first)
    moved = run("accounts", "rescope", "cli_w3", second)
    assert moved.exit_code == 0, moved.output
    with store.connect() as conn:
        now = conn.execute(
            text(
                "SELECT ar.code FROM accounts a JOIN areas ar ON ar.id = a.scope_area_id"
                " WHERE a.username = 'cli_w3'"
            )
        ).scalar_one()
    assert now == second
    refused = run("accounts", "rescope", "cli_w3", "230100")
    assert refused.exit_code == 1 and "must be a grid" in refused.output
    fresh = run("accounts", "activation-code", "cli_w3")
    assert fresh.exit_code == 0
    code = fresh.stdout.strip().splitlines()[-1]
    assert run(
        "accounts", "activate", "cli_w3", "--code", code, "--password-stdin",
        input="cli w3 password\n",
    ).exit_code == 0  # fmt: skip
    missing = run("accounts", "deactivate", "nobody_here")
    assert missing.exit_code == 1 and "no account 'nobody_here'" in missing.output


def test_import_lists_bad_rows_or_writes_the_codes(
    run: Invoke, store: Engine, tmp_path: Path
) -> None:
    grid = _grid_codes(store)[0]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"username,role,scope_code\ncli_i1,grid_worker,{grid}\ncli_i2,boss,{grid}\n",
        encoding="utf-8",
    )
    codes = tmp_path / "codes.csv"
    refused = run("accounts", "import", str(bad), "--codes", str(codes))
    assert refused.exit_code == 1
    assert "1 bad rows, nothing was loaded" in refused.output
    assert "unknown role 'boss'" in refused.output
    assert not codes.exists()
    good = tmp_path / "good.csv"
    good.write_text(
        "username,role,scope_code\n" + "".join(f"cli_i{i},grid_worker,{grid}\n" for i in range(10)),
        encoding="utf-8",
    )
    done = run("accounts", "import", str(good), "--codes", str(codes))
    assert done.exit_code == 0, done.output
    assert "imported 10 accounts" in done.output
    with codes.open(newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 10
    exported = tmp_path / "out.csv"
    listed = run("accounts", "export", str(exported), "--role", "grid_worker")
    assert listed.exit_code == 0, listed.output
    with exported.open(newline="", encoding="utf-8-sig") as fh:
        rows = {r["username"]: r for r in csv.DictReader(fh)}
    assert {f"cli_i{i}" for i in range(10)} <= set(rows)
    assert rows["cli_i3"]["activation_pending"] == "True"
    assert "password_hash" not in rows["cli_i3"] and "activation_hash" not in rows["cli_i3"]
