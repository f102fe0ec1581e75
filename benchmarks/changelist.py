"""The admin's list of uploaded files at growing row counts: queries and median time per page.

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
            # Rows as the admin stores them: a random folder, then the file's name.
            cursor.execute(
                "INSERT INTO uploader_uploadedfile (file) SELECT md5(n::text) || '/file-' || n "
                "|| '.txt' FROM generate_series((SELECT count(*) FROM uploader_uploadedfile) + 1,"
                " %s) AS n",
                [count],
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
