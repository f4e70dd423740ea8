"""The WSGI application, for a production server (``waitress-serve``, gunicorn, …)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")

application = get_wsgi_application()
