"""The project's URLs: its own page, and the Support API in one line."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def home(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "app": "the example Django project",
            "support_api": "/v1/support/",
            "openapi": "/v1/support/openapi.json",
        }
    )


urlpatterns = [
    path("", home),
    path("v1/support/", include("supportkit.adapters.django.urls")),
]
