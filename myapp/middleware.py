from whitenoise.middleware import WhiteNoiseMiddleware

from myapp.responses import stream_asynchronously


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, streaming files in chunks when served through ASGI (Uvicorn)."""

    @staticmethod
    def serve(static_file, request):
        return stream_asynchronously(request, WhiteNoiseMiddleware.serve(static_file, request))
