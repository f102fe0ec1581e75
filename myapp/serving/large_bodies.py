from django.http import HttpResponseForbidden

from myapp.serving.front import READ_AHEAD


class SignInForLargeBodiesMiddleware:
    """Refuse a body larger than the ASGI front receives whole (an upload's) unless the user is
    signed in, before anything reads it: CsrfViewMiddleware reads the form (and spools its
    files) before the admin's own view redirects to the login page, and a slow sender would
    hold one of Django's threads meanwhile."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.headers.get("content-length") or "0"
        if length.isdigit() and int(length) > READ_AHEAD and not request.user.is_authenticated:
            return HttpResponseForbidden(
                f"Forbidden: sign in before sending a body of more than {READ_AHEAD:,} bytes.\n",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
