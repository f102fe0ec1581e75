import gzip

import brotli
import pytest
from django.contrib.staticfiles.storage import staticfiles_storage

from tests.helpers import asgi_get

CSS = "admin/css/base.css"

# Closing a response ends its request, and Django then tidies the database connection.
pytestmark = pytest.mark.django_db


@pytest.fixture
def hashed_url():
    url = staticfiles_storage.url(CSS)
    assert url != f"/static/{CSS}", "collectstatic should have given the file a hashed name"
    return url


def test_collectstatic_writes_compressed_variants(static_root):
    hashed = staticfiles_storage.stored_name(CSS)
    original = (static_root / hashed).read_bytes()

    assert gzip.decompress((static_root / f"{hashed}.gz").read_bytes()) == original
    assert brotli.decompress((static_root / f"{hashed}.br").read_bytes()) == original


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_whitenoise_serves_compressed_files(client, hashed_url, encoding):
    response = client.get(hashed_url, headers={"accept-encoding": encoding})
    response.close()

    assert response.status_code == 200
    assert response["Content-Encoding"] == encoding
    assert response["Content-Type"].startswith("text/css")


def test_hashed_files_are_cached_forever(client, hashed_url):
    response = client.get(hashed_url)
    response.close()

    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert "max-age=315360000" in response["Cache-Control"]


def test_unhashed_names_are_not_cached_forever(client):
    response = client.get(f"/static/{CSS}")
    response.close()

    assert response.status_code == 200
    assert "immutable" not in response["Cache-Control"]


def test_admin_pages_link_the_hashed_stylesheet(client, hashed_url):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert hashed_url in response.text


def test_the_asgi_entry_point_serves_hashed_files_as_whitenoise_would(hashed_url, static_root):
    # Imported here: importing it runs the start checks, which connect to the database.
    from myapp.asgi import application

    https = [(b"x-forwarded-proto", b"https")]
    status, headers, body = asgi_get(application, hashed_url, https)

    assert status == 200
    assert body == (static_root / hashed_url.removeprefix("/static/")).read_bytes()
    assert "immutable" in headers["cache-control"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" in headers
