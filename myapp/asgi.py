"""
ASGI config for myapp: the entry point of Uvicorn, as the Dockerfile starts it.

https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

from myapp.configuration.startup import check_before_serving, exit_on_configuration_error
from myapp.serving.front import Front

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myapp.settings")

with exit_on_configuration_error():
    django_application = get_wsgi_application()
    check_before_serving()

# Django's synchronous stack runs whole in one worker thread per request (a2wsgi): one hand-off
# from the event loop, where Django's ASGI handler makes one for each middleware and signal, and
# request bodies stream to the upload handlers instead of being spooled to a file first.
# The front answers /healthz and static files before that, on the event loop.
application = Front(WSGIMiddleware(django_application))
