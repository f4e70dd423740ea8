"""Mount the Support API in a Django project: a reusable app.

Add the app and include its URLs with one line::

    # settings.py
    INSTALLED_APPS = [..., "supportkit.adapters.django"]
    SUPPORTKIT = {
        "DATABASE_URL": "sqlite:///support.db",
        "PORTAL_URL": "https://support.example.com/tickets/{number}",
        "MAX_BODY_BYTES": 16 * 1024 * 1024,
    }

    # urls.py
    urlpatterns = [..., path("v1/support/", include("supportkit.adapters.django.urls"))]

The app has no models and never touches Django's database: supportkit keeps its data in
the database ``DATABASE_URL`` names (see :mod:`supportkit.adapters.django.conf`). Its one
view hands every request below the prefix to :meth:`supportkit.api.SupportApi.handle`,
so routing, authentication, validation and error shapes are the API layer's.
"""
