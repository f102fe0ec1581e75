from django.views.static import serve

from myapp.configuration.storages import content_headers


def serve_media(request, path, document_root):
    """Serve an uploaded file in development as the bucket would: risky types as downloads."""
    response = serve(request, path, document_root=document_root)
    for header, value in content_headers(path).items():
        response[header] = value
    return response
