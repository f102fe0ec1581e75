"""The admin's list of uploaded files at growing row counts: queries and median time per page,
with every column, previews, filters and the date hierarchy.

Run by benchmarks/app.py in the project's copy, with its database; prints JSON:

    python -m benchmarks.changelist 100 10000 100000
"""

import json
import os
import statistics
import sys
import time

import django

ROUNDS = 15


def main(row_counts):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myapp.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.create_superuser("changelist", password=None)
    client = Client(HTTP_HOST=os.environ["DOMAIN"], headers={"X-Forwarded-Proto": "https"})
    client.force_login(user)
    results = {}
    for count in row_counts:
        with connection.cursor() as cursor:
            # Rows as the admin stores them: a random folder, then the file's name; every tenth
            # an image with its preview; one upload every 17 minutes back from now (100,000
            # rows span three years, for the date hierarchy), by the one user.
            cursor.execute(
                "INSERT INTO uploader_uploadedfile (file, original_name, size, content_type, "
                "uploaded_at, uploaded_by_id, has_preview) "
                "SELECT left(md5(n::text), 16) || '/' || name, name, mod(n * 7919, 10000000), "
                "CASE WHEN image THEN 'image/jpeg' ELSE 'text/plain' END, "
                "now() - n * interval '17 minutes', %s, image "
                "FROM generate_series((SELECT count(*) FROM uploader_uploadedfile) + 1, %s) AS n, "
                "LATERAL (SELECT mod(n, 10) = 0 AS image) AS kind, "
                "LATERAL (SELECT 'file-' || n || CASE WHEN image THEN '.jpg' ELSE '.txt' END "
                "AS name) AS named",
                [user.pk, count],
            )
            cursor.execute("ANALYZE uploader_uploadedfile")
        client.get("/admin/uploader/uploadedfile/")  # warm up
        times = []
        for _ in range(ROUNDS):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get("/admin/uploader/uploadedfile/")
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        results[count] = {"queries": len(queries), "median_ms": statistics.median(times)}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main([int(count) for count in sys.argv[1:]])
