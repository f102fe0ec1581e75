from django.conf import settings
from django.http import HttpResponseForbidden


class SignInForLargeBodiesMiddleware:
    """Refuse a body larger than Django's form limit (which the ASGI front lets through only to
    a view with a `request_body_limit`, e.g. an upload form) unless the user is signed in,
    before anything reads it: CsrfViewMiddleware reads the form (and spools its files) before
    the admin's own view redirects to the login page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") or "0"
        too_large = limit is not None and length.isdigit() and int(length) > limit
        if too_large and not request.user.is_authenticated:
            return HttpResponseForbidden(
                f"Forbidden: sign in before sending a body of more than {limit:,} bytes.\n",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
