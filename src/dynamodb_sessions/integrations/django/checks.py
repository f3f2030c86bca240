"""System checks (``manage.py check``), registered by the app
(``"dynamodb_sessions.integrations.django"`` in ``INSTALLED_APPS``) and run only when
``SESSION_ENGINE`` is this engine.

Always, errors for settings that cannot work:

* ``dynamodb_sessions.E001``: ``DYNAMODB_SESSIONS`` has a key that is not an option here;
* ``dynamodb_sessions.E003``: ``SESSION_COOKIE_*`` that browsers refuse (a ``__Host-`` name
  with a domain, a path other than ``/`` or without Secure; ``__Secure-`` or ``SameSite=None``
  without Secure).

With ``--deploy``, where the production environment is at hand:

* ``dynamodb_sessions.E002``: the store's configuration from the environment and the setting
  is invalid (no table, a GC lifetime shorter than ``SESSION_COOKIE_AGE``, ...);
* ``dynamodb_sessions.W001`` / ``W002``: the session cookie is not Secure / not HttpOnly.
  Django's own ``security.W010``-``W015`` say so only when ``django.contrib.sessions`` or its
  ``SessionMiddleware`` is installed, which this engine needs neither of; these two speak only
  when Django's stay silent, so no warning is given twice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from ...config import cookie_problems
from . import setting_options, store_config

ENGINE = "dynamodb_sessions.integrations.django"
TAG = "dynamodb_sessions"
_DJANGO_APP = "django.contrib.sessions"
_DJANGO_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def _in_use() -> bool:
    return bool(settings.SESSION_ENGINE == ENGINE)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``DYNAMODB_SESSIONS`` keys (E001) and the session cookie's settings (E003)."""
    if not _in_use():
        return []
    errors: list[CheckMessage] = []
    try:
        setting_options()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), hint="See StoreConfig and Connection.", id=f"{TAG}.E001"))
    samesite = settings.SESSION_COOKIE_SAMESITE
    problems = cookie_problems(
        settings.SESSION_COOKIE_NAME,
        path=settings.SESSION_COOKIE_PATH,
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=bool(settings.SESSION_COOKIE_SECURE),
        samesite=samesite or None,  # Django writes no SameSite for False
    )
    errors += [
        Error(
            f"The session cookie cannot work: {problem}.",
            hint="Browsers refuse such a cookie; see the SESSION_COOKIE_* settings.",
            id=f"{TAG}.E003",
        )
        for problem in problems
    ]
    return errors


def check_store_config(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The store's configuration as the environment makes it (E002)."""
    if not _in_use():
        return []
    try:
        setting_options()
    except ImproperlyConfigured:
        return []  # E001 already says so
    try:
        store_config()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id=f"{TAG}.E002")]
    return []


def check_cookie_security(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Secure (W001) and HttpOnly (W002) session cookies, where Django's checks are silent."""
    if not _in_use() or _DJANGO_APP in settings.INSTALLED_APPS:
        return []
    if _DJANGO_MIDDLEWARE in settings.MIDDLEWARE:
        return []
    warnings: list[CheckMessage] = []
    if settings.SESSION_COOKIE_SECURE is not True:
        warnings.append(
            Warning(
                "SESSION_COOKIE_SECURE is not set to True. Using a secure-only session cookie "
                "makes it more difficult for network traffic sniffers to hijack user sessions.",
                id=f"{TAG}.W001",
            )
        )
    if settings.SESSION_COOKIE_HTTPONLY is not True:
        warnings.append(
            Warning(
                "SESSION_COOKIE_HTTPONLY is not set to True. Using an HttpOnly session cookie "
                "makes it more difficult for cross-site scripting attacks to hijack user "
                "sessions.",
                id=f"{TAG}.W002",
            )
        )
    return warnings


def register_checks() -> None:
    """Register the checks with Django (called by the app's ``ready()``)."""
    register(check_settings, TAG)
    register(check_store_config, TAG, deploy=True)
    register(check_cookie_security, Tags.security, deploy=True)
