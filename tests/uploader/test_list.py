"""The admin's list of uploaded files and its change form: what each file is, found by name,
type, uploader and date, at a cost that does not grow with the table."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from file_lifecycle.fields import format_size
from tests.helpers import image_bytes, upload
from tests.uploader.factories import UploadedFileFactory
from uploader.admin import ListQuerySet
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:uploader_uploadedfile_changelist")


def names_listed(response):
    return re.findall(r'<th class="field-name"><a href="[^"]*">([^<]*)</a>', response.text)


def test_the_list_says_what_each_file_is(admin_client, admin_user):
    uploaded = upload(admin_client, "photo.png", image_bytes())
    UploadedFileFactory(file__filename="notes.txt", file__data=b"x" * 1500)

    response = admin_client.get(LIST_URL)

    assert names_listed(response) == ["notes.txt", "photo.png"]  # newest first
    row = re.search(r"<tr>((?!</tr>).)*>photo\.png</a>.*?</tr>", response.text, re.DOTALL)[0]
    assert f">{format_size(uploaded.size)}<" in row
    assert ">image/png<" in row
    assert f">{admin_user.username}<" in row
    assert f'<img src="{uploaded.preview_url}" alt="" class="uploader-thumbnail">' in row
    assert f'<a href="{uploaded.file.url}">Open</a>' in row
    assert ">1.5\xa0kB<" in response.text


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0\xa0bytes"),
        (1, "1\xa0byte"),
        (999, "999\xa0bytes"),
        (1000, "1\xa0kB"),
        (1500, "1.5\xa0kB"),
        (95_367_432, "95.4\xa0MB"),
        (100_000_000, "100\xa0MB"),
        (2**30, "1.1\xa0GB"),
        (3 * 10**12, "3\xa0TB"),
    ],
)
def test_sizes_are_written_in_decimal_units_as_the_limit_is_read(size, shown):
    assert format_size(size) == shown


def test_the_default_limit_reads_as_the_readme_says(admin_client, settings):
    response = admin_client.get(reverse("admin:uploader_uploadedfile_add"))

    assert settings.UPLOAD_MAX_SIZE == 100 * 10**6
    assert "Files up to 100\xa0MB." in response.text  # before any file is chosen


def test_search_finds_files_by_their_name(admin_client):
    UploadedFileFactory(file__filename="budget 2026.xlsx")
    UploadedFileFactory(file__filename="minutes.txt")

    response = admin_client.get(LIST_URL, {"q": "BUDGET"})

    assert names_listed(response) == ["budget 2026.xlsx"]  # as chosen, not as stored


def test_filters_by_type_and_by_uploader(admin_client, admin_user):
    upload(admin_client, "photo.png", image_bytes())
    UploadedFileFactory(file__filename="notes.txt")
    UploadedFileFactory(file__filename="archive.zip")
    UploadedFileFactory(file__filename="paper.pdf")

    assert names_listed(admin_client.get(LIST_URL, {"type": "image"})) == ["photo.png"]
    assert names_listed(admin_client.get(LIST_URL, {"type": "text"})) == ["notes.txt"]
    assert names_listed(admin_client.get(LIST_URL, {"type": "pdf"})) == ["paper.pdf"]
    assert names_listed(admin_client.get(LIST_URL, {"type": "other"})) == ["archive.zip"]
    by_admin = admin_client.get(LIST_URL, {"uploaded_by__id__exact": admin_user.pk})
    assert names_listed(by_admin) == ["photo.png"]


def test_sortable_by_size(admin_client):
    for name, size in [("medium.bin", 500), ("large.bin", 900), ("small.bin", 10)]:
        UploadedFileFactory(file__filename=name, file__data=b"x" * size)

    # The columns by number: preview, name, size...
    assert names_listed(admin_client.get(LIST_URL, {"o": "3"})) == [
        "small.bin",
        "medium.bin",
        "large.bin",
    ]
    assert names_listed(admin_client.get(LIST_URL, {"o": "-3"}))[0] == "large.bin"


def queries_for_the_list(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST_URL).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_one_row_or_many(admin_client, admin_user):
    upload(admin_client, "photo.png", image_bytes())
    one = queries_for_the_list(admin_client)
    for _ in range(30):
        upload(admin_client, "photo.png", image_bytes((8, 8)))
    older = list(UploadedFile.objects.values_list("pk", flat=True)[:10])  # other years too
    UploadedFile.objects.filter(pk__in=older).update(
        uploaded_at=timezone.now() - datetime.timedelta(days=800)
    )

    assert queries_for_the_list(admin_client) == one


@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_the_date_hierarchy_finds_the_periods_django_would(kind):
    now = timezone.now()
    for days in [0, 1, 2, 40, 41, 400, 900, 901]:
        UploadedFileFactory(uploaded_at=now - datetime.timedelta(days=days, hours=days % 5))
    UploadedFileFactory(uploaded_at=None)  # older than the column: no date yet
    texts = UploadedFile.objects.exclude(pk=UploadedFile.objects.order_by("pk")[0].pk)

    for rows in [UploadedFile.objects.all(), texts]:
        ours = ListQuerySet(UploadedFile).filter(pk__in=rows.values("pk"))
        djangos = QuerySet(UploadedFile).filter(pk__in=rows.values("pk"))
        assert list(ours.datetimes("uploaded_at", kind)) == list(
            djangos.datetimes("uploaded_at", kind)
        )
        assert list(ours.datetimes("uploaded_at", kind, "DESC")) == list(
            djangos.datetimes("uploaded_at", kind, "DESC")
        )


def test_the_date_hierarchy_of_an_empty_list(admin_client):
    assert ListQuerySet(UploadedFile).datetimes("uploaded_at", "year") == []
    assert admin_client.get(LIST_URL).status_code == 200


def test_the_change_form_says_what_the_file_is_never_its_folder(admin_client, admin_user):
    uploaded = upload(admin_client, "photo.png", image_bytes())
    folder = uploaded.file.name.split("/")[0]

    response = admin_client.get(reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk]))

    text = re.sub(r'(href|src)="[^"]*"', "", response.text)  # addresses hold the folder
    assert folder not in text
    for shown in ["photo.png", format_size(uploaded.size), "image/png"]:
        assert f'<div class="readonly">{shown}</div>' in response.text
    assert re.search(rf'<div class="readonly">(<a [^>]*>)?{admin_user.username}<', response.text)
    assert f'<img src="{uploaded.preview_url}" alt="" class="uploader-preview">' in response.text
    assert f'<a href="{uploaded.file.url}">Open</a>' in response.text
    assert "Replace with" in response.text
    assert "Stored as" not in response.text


def test_a_name_the_storage_had_to_change_is_told(admin_client):
    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_add"),
        {"file": SimpleUploadedFile("résumé 2026 (final).pdf", b"%PDF-1.7")},
        follow=True,
    )

    assert (
        "“résumé 2026 (final).pdf” is stored as “résumé_2026_final.pdf”: names keep only "
        "letters, digits, dots, hyphens and underscores"
    ) in response.text
    uploaded = UploadedFile.objects.get()
    assert (uploaded.original_name, uploaded.stored_name) == (
        "résumé 2026 (final).pdf",
        "résumé_2026_final.pdf",
    )
    change = admin_client.get(reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk]))
    assert "résumé_2026_final.pdf (the name had to change to be stored)" in change.text


def test_a_name_kept_as_it_is_is_not_told(admin_client):
    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_add"),
        {"file": SimpleUploadedFile("report.pdf", b"%PDF-1.7")},
        follow=True,
    )

    assert "is stored as" not in response.text


def test_the_uploader_is_kept_until_their_account_is_deleted(admin_client):
    editor = get_user_model().objects.create_superuser("editor", password="x")
    admin_client.force_login(editor)
    uploaded = upload(admin_client, "notes.txt", b"notes")
    assert uploaded.uploaded_by == editor

    editor.delete()

    uploaded.refresh_from_db()
    assert uploaded.uploaded_by is None
    assert admin_client.get(LIST_URL).status_code == 302  # logged out with the account
