"""
WSGI config for myapp, for servers that speak WSGI.

https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

from myapp.configuration.startup import check_before_serving, exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myapp.settings")

with exit_on_configuration_error():
    application = get_wsgi_application()
    check_before_serving()
