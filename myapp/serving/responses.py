from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest

CHUNK_SIZE = 256 * 1024  # fastest of 64 KiB to 1 MiB for a 64 MB file through Uvicorn


def stream_asynchronously(request, response):
    """Make a file response stream in chunks when it goes to an ASGI server (Uvicorn).

    Django can give a synchronous file iterator to an ASGI server only by reading the whole
    file in a thread first, and warns about it on every request.
    """
    if isinstance(request, ASGIRequest) and response.streaming:
        response.streaming_content = read_chunks(response.file_to_stream)
    return response


async def read_chunks(file):
    """Read a file (None for no body) chunk by chunk, without blocking the event loop."""
    if file is None:
        return
    while chunk := await sync_to_async(file.read, thread_sensitive=False)(CHUNK_SIZE):
        yield chunk
