"""A second model with a file field, added as the docs tell a forker to add one (tests/invoices):
it gets the whole lifecycle by declaring a ManagedFileField, and reconcile_media covers it."""

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve, reverse

from file_lifecycle.models import PendingDeletion
from tests.helpers import closed_endpoint, reconcile, s3_dsn, storage_errors
from tests.uploader.factories import UploadedFileFactory


def stored_files(root):
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def test_a_second_model_keeps_its_files_in_step_with_its_rows(
    admin_client, invoice_model, media_root, django_capture_on_commit_callbacks
):
    add = reverse("admin:invoices_invoice_add")
    limit = settings.UPLOAD_MAX_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert resolve(add).func.request_body_limit == limit  # the front takes a file's body
    pdf = SimpleUploadedFile("invoice.pdf", b"%PDF first")

    assert admin_client.post(add, {"number": "2026-1", "pdf": pdf}).status_code == 302
    invoice = invoice_model.objects.get()
    assert stored_files(media_root) == [invoice.pdf.name]
    assert invoice.pdf.name.endswith("/invoice.pdf")

    change = reverse("admin:invoices_invoice_change", args=[invoice.pk])
    replacement = SimpleUploadedFile("invoice.pdf", b"%PDF second")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change, {"number": "2026-1", "pdf": replacement})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert stored_files(media_root) == [invoice.pdf.name]
    assert (media_root / invoice.pdf.name).read_bytes() == b"%PDF second"

    delete = reverse("admin:invoices_invoice_delete", args=[invoice.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert stored_files(media_root) == []
    assert not PendingDeletion.objects.exists()


def test_a_second_model_is_told_when_the_storage_fails(
    admin_client, transactional_db, invoice_model, use_storage, caplog
):
    invoice = invoice_model.objects.create(
        number="2026-2", pdf=SimpleUploadedFile("invoice.pdf", b"%PDF")
    )
    use_storage(s3_dsn(closed_endpoint()))

    add = reverse("admin:invoices_invoice_add")
    pdf = SimpleUploadedFile("invoice.pdf", b"%PDF")
    response = admin_client.post(add, {"number": "2026-3", "pdf": pdf}, follow=True)
    assert "The file could not be stored (EndpointConnectionError), and nothing was saved." in (
        response.text
    )
    delete = reverse("admin:invoices_invoice_delete", args=[invoice.pk])
    response = admin_client.post(delete, {"post": "yes"}, follow=True)

    assert "The storage could not delete 1 file(s) (EndpointConnectionError): invoice.pdf." in (
        response.text
    )
    assert not invoice_model.objects.exists()
    assert list(PendingDeletion.objects.values_list("name", "field")) == [
        (invoice.pdf.name, "invoices.Invoice.pdf")
    ]
    assert f"Could not delete {invoice.pdf.name} in the storage: EndpointConnectionError" in (
        storage_errors(caplog)
    )


def test_reconcile_media_covers_the_second_models_files(invoice_model, media_root):
    uploaded = UploadedFileFactory()
    kept, lost = (
        invoice_model.objects.create(number=n, pdf=SimpleUploadedFile("invoice.pdf", b"%PDF"))
        for n in ["2026-4", "2026-5"]
    )
    lost.pdf.storage.delete(lost.pdf.name)
    deleted = invoice_model.objects.create(
        number="2026-6", pdf=SimpleUploadedFile("invoice.pdf", b"%PDF")
    )
    # Listed for deletion, as after a crash: the test's transaction never commits.
    deleted.delete()

    status, fixed = reconcile("--fix", "--grace-period", "0")

    assert status == 1
    assert fixed.splitlines() == [
        f"Removed deleted row's file {deleted.pdf.name}",
        f"Missing file: Invoice {lost.pk} points at {lost.pdf.name}, which is not in the "
        "storage (restore it from a backup, or delete the row)",
        "3 rows, 3 stored files: 1 problem(s) left unfixed.",
    ]
    assert stored_files(media_root) == sorted([uploaded.file.name, kept.pdf.name])
