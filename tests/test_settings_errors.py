from __future__ import annotations

from pathlib import Path

import pytest

from gisgrid.access.privacy import hash_id_number, normalise_id_number
from gisgrid.errors import InvalidInput
from gisgrid.settings import Settings, get_settings
from gisgrid.store.cluster import database_url


def test_settings_read_the_environment_only_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GISGRID_DB_PORT", "6543")
    monkeypatch.setenv("GISGRID_DATA_DIR", "/srv/gg")
    s = get_settings()
    assert s.db_port == 6543
    assert s.pgdata_dir == Path("/srv/gg/pgdata")
    assert get_settings(db_port=7000).db_port == 7000


def test_bad_setting_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GISGRID_DB_PORT", "99999")
    with pytest.raises(ValueError, match="db_port"):
        get_settings()


def test_plan_limits_must_be_a_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GISGRID_PLAN_HOUSEHOLDS_MIN", "400")
    with pytest.raises(
        ValueError, match="plan_households_min=400 is above plan_households_max=300"
    ):
        get_settings()
    s = get_settings(plan_households_max=500)
    assert (s.plan_households_min, s.plan_households_max) == (400, 500)
    monkeypatch.delenv("GISGRID_PLAN_HOUSEHOLDS_MIN")
    with pytest.raises(ValueError, match="plan_residents_min=2000 is above"):
        Settings(plan_residents_min=2000, _env_file=None)


@pytest.mark.parametrize("key", ["k", "k" * 31, "键" * 10], ids=["1-byte", "31-bytes", "30-bytes"])
def test_a_short_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("GISGRID_SECRET_KEY", key)
    with pytest.raises(ValueError, match=r"secret_key has \d+ bytes; at least 32"):
        get_settings()
    with pytest.raises(ValueError, match="at least 32"):
        Settings(secret_key=key, _env_file=None)


def test_the_secret_key_default_and_a_32_byte_key_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GISGRID_SECRET_KEY", raising=False)
    made = Settings(_env_file=None).secret_key.get_secret_value()
    assert len(made.encode()) >= 32  # the per-process dev key passes its own rule
    assert len(Settings(secret_key="键" * 11, _env_file=None).secret_key.get_secret_value()) == 11


def test_external_url_is_used_as_given() -> None:
    s = Settings(database_url="postgresql://u:p@db.example:5432/city")
    assert database_url(s) == "postgresql+psycopg://u:p@db.example:5432/city"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1101051949123100", "18 characters"),
        ("110105194912310021", "check character"),
        ("11010519491231002Y", "18 characters"),
        ("1101051949123100²X", "18 characters"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "18 characters"),
    ],
    ids=["short", "bad-check", "bad-letter", "superscript-digit", "arabic-indic-digits"],
)
def test_bad_id_numbers_are_refused(number: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        normalise_id_number(number)
    assert info.value.field == "id_number"


def test_id_hash_depends_on_the_salt() -> None:
    a = hash_id_number("11010519491231002X", "one")
    b = hash_id_number("11010519491231002X", "two")
    assert a != b and len(a) == len(b) == 64
