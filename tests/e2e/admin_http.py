"""The admin over plain HTTP, as a browser behind the platform's load balancer uses it."""

import http.client
import re
import secrets
from http.cookies import SimpleCookie

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class AdminSession:
    """A logged-in admin session on the app at 127.0.0.1:port (one connection per request)."""

    def __init__(self, port, username, password):
        self.port = port
        self.origin = f"https://localhost:{port}"
        self.cookies = {}
        page = self.get("/admin/login/")[2]
        status, headers, _ = self.post_form(
            "/admin/login/?next=/admin/",
            {"username": username, "password": password, "next": "/admin/"},
            page,
        )
        assert (status, headers.get("location")) == (302, "/admin/"), "could not log in"

    def request(self, method, path, body=b"", headers=None, timeout=60):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(
                method,
                path,
                body=body,
                headers={
                    "Host": f"localhost:{self.port}",
                    # TLS ended at the load balancer, which says so.
                    "X-Forwarded-Proto": "https",
                    "Origin": self.origin,
                    "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                    **(headers or {}),
                },
            )
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, {k.lower(): v for k, v in response.getheaders()}, content

    def get(self, path):
        return self.request("GET", path)

    def post_form(self, path, fields, page, files=()):
        """POST a form as the browser would, with the CSRF token of the page it came from.

        A field given a list is sent once for each of its values, as checkboxes are."""
        token = CSRF_TOKEN.search(page.decode())[1]
        boundary = secrets.token_hex(16)
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, values in {"csrfmiddlewaretoken": token, **fields}.items()
            for value in (values if isinstance(values, list) else [values])
        ]
        for name, filename, content in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request(
            "POST",
            path,
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    def upload(self, filename, content, page=None):
        """Add an UploadedFile through the admin's form; returns (status, Location header)."""
        add = "/admin/uploader/uploadedfile/add/"
        page = page or self.get(add)[2]
        status, headers, _ = self.post_form(add, {}, page, [("file", filename, content)])
        return status, headers.get("location")
