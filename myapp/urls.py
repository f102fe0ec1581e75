"""URL configuration for myapp: the admin, and uploaded files while developing."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from myapp.serving import media

# The admin is the site: its pages, and its "View site" link (to /), say so.
admin.site.site_header = "myapp administration"
admin.site.site_title = "myapp admin"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index")),
    path("admin/", admin.site.urls),
]

# Local media files are served by Django in development only (a bucket serves its own: no
# MEDIA_ROOT), as downloads when a browser could run them as part of the site
# (myapp/serving/media.py).
if settings.DEBUG and settings.MEDIA_ROOT:
    urlpatterns += static(
        settings.MEDIA_URL, document_root=settings.MEDIA_ROOT, view=media.serve_media
    )
