from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from whitenoise.middleware import WhiteNoiseMiddleware

CHUNK_SIZE = 64 * 1024


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, streaming files in chunks when served through ASGI (Uvicorn).

    Django can give WhiteNoise's synchronous file iterator to an ASGI server only by
    reading the whole file in a thread first, and warns about it on every request.
    """

    @staticmethod
    def serve(static_file, request):
        response = WhiteNoiseMiddleware.serve(static_file, request)
        if isinstance(request, ASGIRequest):
            response.streaming_content = read_chunks(response.file_to_stream)
        return response


async def read_chunks(file):
    """Read a file (None for no body) chunk by chunk, without blocking the event loop."""
    if file is None:
        return
    while chunk := await sync_to_async(file.read, thread_sensitive=False)(CHUNK_SIZE):
        yield chunk
