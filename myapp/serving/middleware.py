from whitenoise import middleware

from myapp.serving.responses import stream_asynchronously


class WhiteNoiseMiddleware(middleware.WhiteNoiseMiddleware):
    """WhiteNoise, streaming files in chunks when served through ASGI (Uvicorn)."""

    @staticmethod
    def serve(static_file, request):
        return stream_asynchronously(
            request, middleware.WhiteNoiseMiddleware.serve(static_file, request)
        )
