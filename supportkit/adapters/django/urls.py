"""Include with ``path("v1/support/", include("supportkit.adapters.django.urls"))``.

One pattern takes everything below the prefix, so the API — not Django's resolver —
answers every path and method there, unknown ones included, in ``problem+json``.
"""

from __future__ import annotations

from django.urls import re_path

from . import views

app_name = "supportkit"

urlpatterns = [
    # [\s\S] rather than ".": a path may contain an encoded newline.
    re_path(r"^(?P<subpath>[\s\S]*)\Z", views.api, name="api"),
]
