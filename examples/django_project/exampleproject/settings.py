"""Settings of the example project: a plain Django project plus supportkit's app."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    # supportkit's reusable app: the Support API and its management commands.
    "supportkit.adapters.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"

# supportkit keeps its data in its own database (below), not in Django's: this project
# needs none of Django's.
DATABASES: dict[str, dict[str, str]] = {}

USE_TZ = True

SUPPORTKIT = {
    "DATABASE_URL": os.environ.get(
        "SUPPORTKIT_DATABASE_URL", f"sqlite:///{BASE_DIR / 'supportkit.db'}"
    ),
    # Where customers follow their tickets (the tickets' urls.customer_portal).
    "PORTAL_URL": os.environ.get("SUPPORTKIT_PORTAL_URL"),
    "MAX_BODY_BYTES": 16 * 1024 * 1024,
}
