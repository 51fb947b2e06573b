"""The SQLite store: secrets encrypted at rest, key file permissions, migrations run once."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from poolgate.store.crypto import mask_secret
from poolgate.store.models import API_KEY, Account
from poolgate.store.sql import DB_FILE, SqlStore


def test_secrets_are_encrypted_at_rest(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    store.add_account(Account(id="", kind=API_KEY, label="k", secret="AIzaSECRETSECRETSECRET"))
    store.close()
    raw = (tmp_path / DB_FILE).read_bytes()
    assert b"AIzaSECRETSECRETSECRET" not in raw
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = SqlStore.open(tmp_path)
    assert again.list_accounts()[0].secret == "AIzaSECRETSECRETSECRET"


def test_migrations_are_recorded_and_not_rerun(tmp_path: Path) -> None:
    SqlStore.open(tmp_path).close()
    SqlStore.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == sorted(set(versions)) and versions[0] == 1


def test_revision_bumps_on_changes(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    r0 = store.revision()
    acc = store.add_account(Account(id="", kind=API_KEY, label="k", secret="abcdefghijkl"))
    r1 = store.revision()
    store.update_account(acc.id, enabled=False)
    store.set_mapping("a*", "b")
    assert r0 < r1 < store.revision()
    assert store.resolve_account_id("k") == acc.id
    assert store.resolve_account_id(acc.id[:3]) == acc.id


def test_mask_secret() -> None:
    assert mask_secret("AIzaSyABCDEFGHIJ1234") == "AIza…1234"
    assert mask_secret("short") == "****"
    assert mask_secret("") == ""
