"""URLconf of the Django app the benchmarks drive (``ROOT_URLCONF = "bench.django_urls"``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from bench import views

RAW: dict[str, Any] = {}  # the bare view's client and key, set by bench.adapters


def read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.session.get("user")))


def write(request: HttpRequest) -> HttpResponse:
    views.write(request.session)
    return HttpResponse("ok")


def set_only(request: HttpRequest) -> HttpResponse:
    views.set_only(request.session)
    return HttpResponse("ok")


def rotate(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()
    return HttpResponse("ok")


def unused(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(views.raw_get(RAW["client"], RAW["table"], RAW["key"]))


urlpatterns = [
    path("read", read),
    path("write", write),
    path("set", set_only),
    path("rotate", rotate),
    path("unused", unused),
    path("bare", bare),
]
