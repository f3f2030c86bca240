"""The system checks the app registers (``manage.py check``, ``check --deploy``), run the way
Django runs its own, and the caching headers of our ``SessionMiddleware``."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

OURS = "dynamodb_sessions.integrations.django.middleware.SessionMiddleware"
WITHOUT_DJANGOS_SESSIONS = {
    "INSTALLED_APPS": [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "dynamodb_sessions.integrations.django",
    ],
    "MIDDLEWARE": [OURS, "django.contrib.auth.middleware.AuthenticationMiddleware"],
}


def ours(messages):
    return sorted(m.id for m in messages if m.id.startswith("dynamodb_sessions."))


@pytest.fixture
def environment(config, monkeypatch):
    """The production environment of the store: the table and how to reach it."""
    connection = config.connection
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", config.table)
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", connection.endpoint_url)
    monkeypatch.setenv("AWS_REGION_NAME", connection.region)


def test_sound_settings_pass_every_check(environment):
    assert ours(run_checks(include_deployment_checks=True)) == []
    call_command("check", deploy=True)  # raises SystemCheckError on any error


@pytest.mark.parametrize(
    ("settings", "errors"),
    [
        (
            {"SESSION_COOKIE_NAME": "__Host-sessionid", "SESSION_COOKIE_DOMAIN": "example.org"},
            ["dynamodb_sessions.E003", "dynamodb_sessions.E003"],  # not Secure, a domain
        ),
        (
            {
                "SESSION_COOKIE_NAME": "__Host-sessionid",
                "SESSION_COOKIE_SECURE": True,
                "SESSION_COOKIE_PATH": "/app",
            },
            ["dynamodb_sessions.E003"],
        ),
        ({"SESSION_COOKIE_NAME": "__Secure-sessionid"}, ["dynamodb_sessions.E003"]),
        ({"SESSION_COOKIE_SAMESITE": "None"}, ["dynamodb_sessions.E003"]),
        ({"DYNAMODB_SESSIONS": {"tabel": "typo"}}, ["dynamodb_sessions.E001"]),
        ({"DYNAMODB_SESSIONS": {"timeout": 60}}, ["dynamodb_sessions.E001"]),
        # Lock mode with Django's own SessionMiddleware: nothing would give the lock back.
        ({"DYNAMODB_SESSIONS": {"lock": True}}, ["dynamodb_sessions.E001"]),
        (
            {
                "DYNAMODB_SESSIONS": {"lock": {"lease": 0}},
                "MIDDLEWARE": [
                    "dynamodb_sessions.integrations.django.middleware.SessionMiddleware"
                ],
            },
            ["dynamodb_sessions.E001"],
        ),
    ],
)
def test_settings_that_cannot_work_are_errors_of_every_check(environment, settings, errors):
    with override_settings(**settings):
        assert ours(run_checks()) == errors
        with pytest.raises(SystemCheckError, match=errors[0]):
            call_command("check")


def test_a_gc_lifetime_shorter_than_the_cookie_age_is_a_deploy_error(environment, monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_LIFETIME", "60")  # SESSION_COOKIE_AGE: 2 weeks
    assert ours(run_checks()) == []  # a build step's environment is not production's
    (error,) = [m for m in run_checks(include_deployment_checks=True) if m.id.endswith("E002")]
    assert "AWS_DYNAMODB_SESSION_LIFETIME (60 s) is shorter" in error.msg
    with pytest.raises(SystemCheckError, match="E002"):
        call_command("check", deploy=True)


def test_no_table_is_a_deploy_error():
    assert ours(run_checks(include_deployment_checks=True)) == ["dynamodb_sessions.E002"]


def test_an_insecure_cookie_is_a_deploy_warning_when_djangos_checks_are_silent(environment):
    with override_settings(**WITHOUT_DJANGOS_SESSIONS, SESSION_COOKIE_HTTPONLY=False):
        messages = run_checks(include_deployment_checks=True)
        ids = sorted(m.id for m in messages)
        assert "security.W010" not in ids and "security.W011" not in ids  # Django: silent
        assert ours(messages) == ["dynamodb_sessions.W001", "dynamodb_sessions.W002"]
        assert ours(run_checks()) == []  # deploy checks only
        with override_settings(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True):
            assert ours(run_checks(include_deployment_checks=True)) == []


def test_no_warning_twice_where_django_warns_itself(environment):
    messages = run_checks(include_deployment_checks=True)
    ids = [m.id for m in messages]
    assert "security.W012" in ids  # django.contrib.sessions and its middleware are installed
    assert ours(messages) == []


def test_another_session_engine_is_not_checked(monkeypatch):
    with override_settings(
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        DYNAMODB_SESSIONS={"tabel": "typo"},
        SESSION_COOKIE_NAME="__Host-sessionid",
    ):
        assert ours(run_checks(include_deployment_checks=True)) == []


@override_settings(MIDDLEWARE=[OURS])
def test_our_middleware_makes_a_session_cookie_private(store):
    client = Client()
    response = client.get("/set/a/b")
    assert "sessionid" in response.cookies
    assert response["Cache-Control"] == "private" and response["Vary"] == "Cookie"
    untouched = client.get("/untouched")
    assert "Cache-Control" not in untouched and "Vary" not in untouched


@override_settings(MIDDLEWARE=[OURS], SESSION_SAVE_EVERY_REQUEST=True)
def test_a_cookie_saved_on_every_request_varies_even_unread(store):
    client = Client()
    client.get("/set/a/b")
    response = client.get("/untouched")  # never reads the session, yet Django sets the cookie
    assert "sessionid" in response.cookies
    assert response["Vary"] == "Cookie" and response["Cache-Control"] == "private"
