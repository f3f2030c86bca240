"""Whole requests through Django's SessionMiddleware and django.contrib.auth, with the test
Client and AsyncClient: cookies, login/logout, and the DynamoDB calls each request costs."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient, Client, override_settings

from dynamodb_sessions.ids import is_well_formed, new_session_id


@pytest.fixture
def client(store):
    return Client()


@pytest.fixture
def calls(store, call_log):
    """The DynamoDB operations the engine's store sends from now on (either transport)."""
    return call_log().attach(store)


def session_cookie(response):
    return response.cookies.get(settings.SESSION_COOKIE_NAME)


def test_a_session_lives_across_requests(client, store):
    response = client.get("/set/colour/blue")
    cookie = session_cookie(response)
    assert is_well_formed(cookie.value)
    assert cookie["max-age"] == settings.SESSION_COOKIE_AGE
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert client.get("/get/colour").json()["value"] == "blue"
    assert store.load(cookie.value).to_dict() == {"colour": "blue"}


def test_dynamodb_calls_stay_at_the_floor(client, calls):
    client.get("/set/colour/blue")
    calls.clear()
    client.get("/untouched")
    assert calls == []
    client.get("/get/colour")
    assert calls == ["GetItem"]
    calls.clear()
    client.get("/set/colour/red")
    assert calls == ["GetItem", "UpdateItem"]


@override_settings(
    SESSION_COOKIE_NAME="sid",
    SESSION_COOKIE_DOMAIN="example.test",
    SESSION_COOKIE_PATH="/app",
    SESSION_COOKIE_SECURE=True,
    SESSION_COOKIE_HTTPONLY=False,
    SESSION_COOKIE_SAMESITE="Strict",
    SESSION_COOKIE_AGE=600,
)
def test_the_cookie_follows_djangos_cookie_settings(client, store):
    # The store's timeout follows SESSION_COOKIE_AGE when built from the settings; this test's
    # store is built in code, so only the cookie is checked here.
    cookie = client.get("/set/a/b").cookies["sid"]
    assert cookie["domain"] == "example.test"
    assert cookie["path"] == "/app"
    assert cookie["secure"] is True
    assert cookie["httponly"] == ""
    assert cookie["samesite"] == "Strict"
    assert cookie["max-age"] == 600


@override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=True)
def test_expire_at_browser_close_sends_a_browser_session_cookie(client, store):
    cookie = session_cookie(client.get("/set/a/b"))
    assert cookie["max-age"] == ""
    assert cookie["expires"] == ""
    assert client.get("/get/a").json()["value"] == "b"


def test_set_expiry_sets_the_cookie_age_and_the_stored_timeout(client, store, clock):
    cookie = session_cookie(client.get("/expire-in/30"))
    assert cookie["max-age"] == 30
    assert store.load(cookie.value).timeout == 30
    clock.advance(30)
    response = client.get("/get/x")
    assert response.json()["value"] is None
    assert session_cookie(response)["max-age"] == 0  # the stale cookie is deleted


def test_an_unchanged_session_sets_no_cookie_unless_save_every_request(client, store):
    client.get("/set/a/b")
    assert session_cookie(client.get("/get/a")) is None
    with override_settings(SESSION_SAVE_EVERY_REQUEST=True):
        cookie = session_cookie(client.get("/get/a"))
    assert cookie["max-age"] == settings.SESSION_COOKIE_AGE


def test_save_every_request_refreshes_the_stored_expiry(client, store, clock):
    cookie = session_cookie(client.get("/set/a/b"))
    before = store.load(cookie.value).stored.expires
    clock.advance(settings.SESSION_COOKIE_AGE // 2)
    with override_settings(SESSION_SAVE_EVERY_REQUEST=True):
        client.get("/get/a")
    assert store.load(cookie.value).stored.expires > before


@pytest.mark.parametrize("value", ["forged", new_session_id()], ids=["malformed", "unknown"])
def test_a_cookie_naming_no_session_is_deleted(client, store, calls, value):
    client.cookies[settings.SESSION_COOKIE_NAME] = value
    response = client.get("/get/a")
    assert response.json()["value"] is None
    assert session_cookie(response)["max-age"] == 0
    assert calls == ([] if value == "forged" else ["GetItem"])


def test_login_rotates_the_key_and_logout_flushes(client, store):
    before = session_cookie(client.get("/set/cart/3")).value
    after = session_cookie(client.get("/login")).value
    assert after != before
    assert store.exists(before) is False
    page = client.get("/get/cart").json()
    assert page == {"value": "3", "user": "ada"}
    assert store.load(after).user_id is not None
    response = client.get("/logout")
    assert session_cookie(response)["max-age"] == 0
    assert store.exists(after) is False
    assert client.get("/get/cart").json() == {"value": None, "user": ""}


def test_a_session_deleted_during_the_request_is_not_resurrected(client, store):
    key = session_cookie(client.get("/set/a/b")).value
    response = client.get("/deleted-meanwhile")
    assert response.status_code == 400  # Django's SessionInterrupted
    assert store.exists(key) is False


def test_async_views(store, async_mode):
    client = AsyncClient()

    async def scenario():
        first = await client.get("/async/set/colour/green")
        before = session_cookie(first).value
        assert (await client.get("/async/get/colour")).json() == {"value": "green", "user": ""}
        await client.get("/async/login")
        after = client.cookies[settings.SESSION_COOKIE_NAME].value
        assert after != before
        assert (await client.get("/async/get/colour")).json() == {
            "value": "green",
            "user": "ada",
        }
        await client.get("/async/logout")
        assert (await client.get("/async/get/colour")).json() == {"value": None, "user": ""}
        return before, after

    before, after = async_to_sync(scenario)()
    assert store.exists(before) is False
    assert store.exists(after) is False


def test_a_user_is_logged_out_everywhere_by_revoking(store):
    from django.contrib.auth.models import User

    laptop, phone = Client(), Client()
    laptop.get("/login")
    phone.get("/login")
    assert phone.get("/get/a").json()["user"] == "ada"
    assert store.revoke_user(str(User.objects.get(username="ada").pk)) == 2
    assert laptop.get("/get/a").json()["user"] == ""
    assert phone.get("/get/a").json()["user"] == ""
