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


def test_external_url_is_used_as_given() -> None:
    s = Settings(database_url="postgresql://u:p@db.example:5432/city")
    assert database_url(s) == "postgresql+psycopg://u:p@db.example:5432/city"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1101051949123100", "18 characters"),
        ("110105194912310021", "check character"),
        ("11010519491231002Y", "18 characters"),
    ],
    ids=["short", "bad-check", "bad-letter"],
)
def test_bad_id_numbers_are_refused(number: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        normalise_id_number(number)
    assert info.value.field == "id_number"


def test_id_hash_depends_on_the_salt() -> None:
    a = hash_id_number("11010519491231002X", "one")
    b = hash_id_number("11010519491231002X", "two")
    assert a != b and len(a) == len(b) == 64
