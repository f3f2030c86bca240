import hashlib

import pytest

from dynamodb_sessions import CookieAction, CookieSettings, CookieUpdate
from dynamodb_sessions._core.cookies import read_cookie, set_cookie_header
from dynamodb_sessions.ids import is_well_formed, log_safe, new_session_id, storage_key


def test_new_ids_are_256_bits_and_well_formed():
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 43 and is_well_formed(i) for i in ids)


@pytest.mark.parametrize(
    "value",
    [None, "", "x" * 42, "x" * 44, "é" * 43, "a" * 42 + "/", "a" * 42 + "=", 42, "a" * 10_000],
)
def test_anything_else_is_not_an_id(value):
    assert not is_well_formed(value)


def test_the_table_holds_only_a_hash_of_the_id():
    sid = new_session_id()
    assert storage_key(sid) == hashlib.sha256(sid.encode()).hexdigest()
    assert storage_key(sid, "app1:") == "app1:" + storage_key(sid)
    assert sid not in log_safe(sid) and len(log_safe(sid)) == 12


def test_read_cookie_is_lenient_and_takes_the_first():
    header = 'junk; =x; other=1; session="abc"; session=def'
    assert read_cookie(header, "session") == "abc"
    assert read_cookie("a=1", "session") is None
    assert read_cookie(None, "session") is None


def test_set_cookie_header():
    settings = CookieSettings(secure=True, domain="example.org")
    header = set_cookie_header(settings, CookieUpdate(CookieAction.SET, "v", 60), 0)
    assert header == (
        "session=v; path=/; Max-Age=60; expires=Thu, 01 Jan 1970 00:01:00 GMT; "
        "httponly; samesite=lax; secure; domain=example.org"
    )
    deleted = set_cookie_header(CookieSettings(), CookieUpdate(CookieAction.DELETE), 0)
    assert deleted == (
        "session=; path=/; Max-Age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"
    )
    assert set_cookie_header(settings, CookieUpdate(CookieAction.KEEP), 0) is None
    browser = set_cookie_header(
        CookieSettings(persistent=False), CookieUpdate(CookieAction.SET, "v", 60), 0
    )
    assert browser is not None and "Max-Age" not in browser
