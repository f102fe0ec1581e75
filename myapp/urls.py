"""URL configuration for myapp: the admin, and uploaded files while developing."""

import re

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import RedirectView

from myapp import views

# The admin is the site: its pages, and its "View site" link (to /), say so.
admin.site.site_header = "myapp administration"
admin.site.site_title = "myapp admin"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index")),
    path("admin/", admin.site.urls),
]

# Local media files are served by Django in development only; in production they live in
# a bucket that serves them itself.
if settings.DEBUG and settings.MEDIA_ROOT:
    media_prefix = re.escape(settings.MEDIA_URL.lstrip("/"))
    urlpatterns += [re_path(rf"^{media_prefix}(?P<path>.*)$", views.media)]
