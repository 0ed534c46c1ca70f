"""Account files: import a CSV or XLSX of accounts all or nothing, and export the list.

An import file has a header row and the columns ``username``, ``role``, ``scope_code``,
``unit_code`` and optionally ``display_name`` (names matched without regard to case; other
columns, such as those an export adds, are ignored and named in the report). It is read by
the loader's reader (:func:`gisgrid.io.read.read_frame`), and every row is checked against
the rules of :mod:`gisgrid.access.accounts` before anything is written: either every
account is created, or :class:`~gisgrid.errors.LoadError` names every bad row with its line
(CSV, the header is line 1) or sheet row, the field and the reason.

No password is hashed: each account gets a one-time activation code, written to the codes
file (CSV: username, activation_code, expires_at) before the accounts are committed, so
there are never accounts whose codes were lost.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from gisgrid.access.accounts import (
    ACTIVATION_VALID,
    Activation,
    NewAccount,
    account_entries,
    check_new_accounts,
    insert_accounts,
)
from gisgrid.errors import InvalidInput, LoadError, translate_db_errors
from gisgrid.io.checks import Problems, check_duplicates, parse_field
from gisgrid.io.layers import FieldSpec, Layer
from gisgrid.io.load import MAX_FILE_BYTES, match_columns
from gisgrid.io.read import read_frame

FILE_FIELDS = ("username", "role", "scope_code", "unit_code", "display_name")
REQUIRED_COLUMNS = ("username", "role")
EXPORT_SUFFIXES = (".csv", ".xlsx")
EXPORT_EXTRAS = (
    "scope_level",
    "active",
    "password_set",
    "activation_pending",
    "activation_expires_at",
)
# Not a loadable layer (gisgrid load never takes accounts): a description for the reader.
ACCOUNTS_FILE = Layer(
    name="accounts",
    table="accounts",
    geom="point",
    geom_required=False,
    fields={n: FieldSpec(n, "text", "text", required=False) for n in FILE_FIELDS},
    keys=("username",),
)


@dataclass(frozen=True)
class AccountImport:
    """What an import did: the accounts created, and their activation codes."""

    path: str
    rows: int
    activations: list[Activation]
    codes_path: str | None
    ignored_columns: tuple[str, ...]
    seconds: float


def _codes_target(codes_path: str | Path | None) -> Path | None:
    if codes_path is None:
        return None
    target = Path(codes_path)
    if target.suffix.lower() != ".csv":
        raise InvalidInput(
            f"codes are written as CSV: name a .csv file, not {target}", field="codes"
        )
    if target.exists():
        raise InvalidInput(
            f"{target} exists; activation codes never overwrite a file", field="codes"
        )
    return target


def write_codes(path: Path, activations: list[Activation]) -> None:
    """The codes file, readable by its owner only, and on disk (fsync) when this returns."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["username", "activation_code", "expires_at"])
        out.writerows((a.username, a.code, a.expires_at.isoformat()) for a in activations)
        fh.flush()
        os.fsync(fh.fileno())


def _rows(values: dict[str, pd.Series], n: int) -> list[NewAccount]:
    cols = [
        values[f].to_numpy(dtype=object, na_value=None) if f in values else [None] * n
        for f in FILE_FIELDS
    ]
    return [NewAccount(*row) for row in zip(*cols, strict=True)]


def import_accounts(
    engine: Engine,
    path: str | Path,
    *,
    codes_path: str | Path | None = None,
    valid_for: timedelta = ACTIVATION_VALID,
    max_bytes: int = MAX_FILE_BYTES,
) -> AccountImport:
    """Create every account of a CSV/XLSX file in one transaction, or none.

    Raises :class:`~gisgrid.errors.LoadError` with every bad row ``(row, field, reason)``:
    an unknown role or scope code, a scope whose level does not fit the role, an unknown
    unit code, a username twice in the file or already in the store. With ``codes_path``
    the codes are written there (a new CSV file) before the commit.

    Examples
    --------
    >>> import tempfile
    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> path = Path(tempfile.mkdtemp()) / "accounts.csv"
    >>> _ = path.write_text("username,role,scope_code\\nw1,grid_worker,230102\\n")
    >>> import_accounts(make_engine(get_settings()), path, codes_path=path)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: codes: ... exists; activation codes never overwrite a file
    """
    started = time.perf_counter()
    path = Path(path)
    target = _codes_target(codes_path)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInput(f"is {size:,} bytes; at most {max_bytes:,}", field="file")
    frame = read_frame(path, ACCOUNTS_FILE)
    problems: Problems = frame.pre_bad
    df = match_columns(frame.df, ACCOUNTS_FILE)
    values = {
        f: parse_field(s, df[f], problems) for f, s in ACCOUNTS_FILE.fields.items() if f in df
    }
    missing = [c for c in REQUIRED_COLUMNS if c not in values]
    for c in missing:
        problems.whole_file(c, f"required column {c!r} is missing from the file")
    if "username" in values:
        check_duplicates(values["username"], problems, "username", frame.row_of)
    rows = _rows(values, len(df))
    written = False
    try:
        with translate_db_errors(), engine.begin() as conn:
            if not missing:
                found, scope_ids, unit_ids = check_new_accounts(conn, rows)
                for field in FILE_FIELDS:
                    mine = [p for p in found if p.field == field]
                    if mine:
                        where = np.array([p.pos for p in mine], dtype=np.int64)
                        problems.add(where, field, [p.reason for p in mine])
            if len(problems):
                raise LoadError(problems.rows(frame.row_of), table="accounts")
            activations = insert_accounts(conn, rows, scope_ids, unit_ids, valid_for=valid_for)
            if target is not None:
                write_codes(target, activations)
                written = True
    except BaseException:
        if written and target is not None:
            target.unlink(missing_ok=True)  # the accounts were not committed: no codes
        raise
    return AccountImport(
        path=str(path),
        rows=len(rows),
        activations=activations,
        codes_path=str(target) if target is not None else None,
        ignored_columns=tuple(str(c) for c in df.columns if c not in ACCOUNTS_FILE.fields),
        seconds=time.perf_counter() - started,
    )


def export_accounts(engine: Engine, path: str | Path, role: str | None = None) -> int:
    """Write the accounts (of one role, when given) to CSV or XLSX; returns how many.

    The columns are the import's (codes, not ids) and then ``scope_level``, ``active``,
    ``password_set``, ``activation_pending`` and ``activation_expires_at``, which an import
    ignores; no password hash or activation code ever leaves the store.

    Examples
    --------
    >>> from gisgrid.store.engine import make_engine
    >>> export_accounts(make_engine("postgresql+psycopg://u@/db?host=/x"), "accounts.json")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: file: cannot write accounts to '.json'; expected .csv or .xlsx
    """
    import pyogrio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InvalidInput(
            f"cannot write accounts to {suffix or 'no suffix'!r}; expected "
            f"{' or '.join(EXPORT_SUFFIXES)}",
            field="file",
        )
    entries = account_entries(engine, role)
    columns = [*FILE_FIELDS, *EXPORT_EXTRAS]
    df = pd.DataFrame([asdict(e) for e in entries], columns=columns)
    df["activation_expires_at"] = [
        None if pd.isna(v) else v.isoformat() for v in df["activation_expires_at"]
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside and renamed over: a failed export leaves any earlier file whole
    partial = path.with_name(f".{path.stem}.partial{suffix}")
    partial.unlink(missing_ok=True)
    if suffix == ".csv":
        # the BOM makes Excel read the Chinese display names as UTF-8; the reader skips it
        df.to_csv(partial, index=False, encoding="utf-8-sig")
    else:
        pyogrio.write_dataframe(df.astype("string"), partial, driver="XLSX", layer="accounts")
    partial.replace(path)
    return len(df)
