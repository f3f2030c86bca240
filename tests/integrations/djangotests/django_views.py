"""URLconf and views of the Django tests (``ROOT_URLCONF = "django_views"``)."""

from __future__ import annotations

from django.contrib.auth import aauthenticate, alogin, alogout, authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from dynamodb_sessions.integrations.django import get_store


def set_value(request: HttpRequest, key: str, value: str) -> HttpResponse:
    request.session[key] = value
    return HttpResponse("ok")


def get_value(request: HttpRequest, key: str) -> JsonResponse:
    return JsonResponse({"value": request.session.get(key), "user": request.user.get_username()})


def untouched(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the session is never looked at")


def expire_in(request: HttpRequest, seconds: int) -> HttpResponse:
    request.session["x"] = "y"
    request.session.set_expiry(seconds)
    return HttpResponse("ok")


def log_in(request: HttpRequest) -> HttpResponse:
    user = authenticate(request, username="ada", password="lovelace")
    assert user is not None
    login(request, user)
    return HttpResponse("in")


def log_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponse("out")


def deleted_meanwhile(request: HttpRequest) -> HttpResponse:
    # A concurrent request (a logout elsewhere) deletes the session while this one changes it.
    request.session["late"] = "write"
    assert request.session.session_key is not None
    get_store().delete(request.session.session_key)
    return HttpResponse("changed a session that is gone")


async def aset_value(request: HttpRequest, key: str, value: str) -> HttpResponse:
    await request.session.aset(key, value)
    return HttpResponse("ok")


async def aget_value(request: HttpRequest, key: str) -> JsonResponse:
    user = await request.auser()
    value = await request.session.aget(key)
    return JsonResponse({"value": value, "user": user.get_username()})


async def alog_in(request: HttpRequest) -> HttpResponse:
    user = await aauthenticate(request, username="ada", password="lovelace")
    assert user is not None
    await alogin(request, user)
    return HttpResponse("in")


async def alog_out(request: HttpRequest) -> HttpResponse:
    await alogout(request)
    return HttpResponse("out")


urlpatterns = [
    path("set/<str:key>/<str:value>", set_value),
    path("get/<str:key>", get_value),
    path("untouched", untouched),
    path("expire-in/<int:seconds>", expire_in),
    path("login", log_in),
    path("logout", log_out),
    path("deleted-meanwhile", deleted_meanwhile),
    path("async/set/<str:key>/<str:value>", aset_value),
    path("async/get/<str:key>", aget_value),
    path("async/login", alog_in),
    path("async/logout", alog_out),
]
