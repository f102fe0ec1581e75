"""
ASGI config for myapp: the entry point of Uvicorn, as the Dockerfile starts it.

https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from django.core.asgi import get_asgi_application

from myapp.environment import check_before_serving, exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myapp.settings")

with exit_on_configuration_error():
    application = get_asgi_application()
    check_before_serving()
