"""The core's cookie decision for sessions whose cookie ends with the browser session (Flask's
non-permanent sessions, Starlette's ``max_age=None``), and the 503 answer every adapter sends."""

from dynamodb_sessions import (
    BackendUnavailableError,
    CookieSettings,
    Session,
    SessionConflictError,
    StoreConfig,
)
from dynamodb_sessions._core.cookies import set_cookie_header
from dynamodb_sessions._core.lifecycle import (
    RETRY_LATER,
    UNAVAILABLE_BODY,
    CookieAction,
    CookieUpdate,
    cookie_update,
    unavailable_headers,
)
from dynamodb_sessions.exceptions import SessionLockError

CONFIG = StoreConfig(table="t", timeout=100)


class BrowserSession(Session):
    @property
    def persistent_cookie(self) -> bool:
        return False


def test_a_session_asks_for_a_lasting_cookie_by_default():
    update = cookie_update(Session(), CookieAction.SET, CONFIG)
    assert update.persistent and update.max_age == 100


def test_a_session_may_ask_for_a_browser_session_cookie():
    session = BrowserSession()
    update = cookie_update(session, CookieAction.SET, CONFIG)
    assert update == CookieUpdate(CookieAction.SET, session.session_id, 100, persistent=False)
    header = set_cookie_header(CookieSettings(), update, 0)
    assert header is not None and "Max-Age" not in header and "Expires" not in header


def test_settings_can_make_every_cookie_a_browser_session_one():
    update = cookie_update(Session(), CookieAction.SET, CONFIG)
    header = set_cookie_header(CookieSettings(persistent=False), update, 0)
    assert header is not None and "Max-Age" not in header


def test_a_browser_session_cookie_is_still_deleted_with_max_age_zero():
    header = set_cookie_header(CookieSettings(), CookieUpdate(CookieAction.DELETE), 0)
    assert header is not None and "Max-Age=0" in header


def test_the_503_answer():
    assert set(RETRY_LATER) == {
        BackendUnavailableError,
        SessionConflictError,
        SessionLockError,
    }
    headers = dict(unavailable_headers())
    assert headers["Retry-After"] == "5" and headers["Cache-Control"] == "no-store"
    assert int(headers["Content-Length"]) == len(UNAVAILABLE_BODY)
    assert "Set-Cookie" not in headers
