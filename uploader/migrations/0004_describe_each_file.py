# What each file is: its name, size, type, upload time and uploader, and whether it has a
# preview. Existing rows get their name and type here, from the stored name alone; their size
# and time need the storage, which `manage.py describe_uploads` asks (docs/uploader.md).

import mimetypes
import posixpath

import django.db.models.deletion
import django.utils.timezone
import file_lifecycle.fields
from django.conf import settings
from django.db import migrations, models


def describe_from_names(apps, schema_editor):
    """As uploader.models.UploadedFile names and types a new file, when this was written."""
    UploadedFile = apps.get_model("uploader", "UploadedFile")
    batch = []
    for row in UploadedFile.objects.only("file").order_by("pk").iterator(chunk_size=1000):
        row.original_name = posixpath.basename(row.file.name)
        content_type, encoding = mimetypes.guess_type(row.file.name)
        unknown = encoding or not content_type  # compressed, or no type known
        row.content_type = "application/octet-stream" if unknown else content_type
        batch.append(row)
        if len(batch) == 1000:
            UploadedFile.objects.bulk_update(batch, ["original_name", "content_type"])
            batch = []
    UploadedFile.objects.bulk_update(batch, ["original_name", "content_type"])


class Migration(migrations.Migration):

    dependencies = [
        ('uploader', '0003_pendingdeletion_moved_to_file_lifecycle'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='uploadedfile',
            name='file',
            field=file_lifecycle.fields.ManagedFileField(derived={'preview.webp': 'has_preview'}, max_length=255, upload_to=file_lifecycle.fields.own_folder),
        ),
        migrations.AddField(
            model_name='uploadedfile',
            name='original_name',
            field=models.CharField(default='', editable=False, max_length=255, verbose_name='name'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='uploadedfile',
            name='size',
            field=models.PositiveBigIntegerField(editable=False, help_text='in bytes', null=True),
        ),
        migrations.AddField(
            model_name='uploadedfile',
            name='content_type',
            field=models.CharField(default='', editable=False, max_length=255, verbose_name='type'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='uploadedfile',
            name='uploaded_at',
            field=models.DateTimeField(editable=False, null=True, verbose_name='uploaded'),
        ),
        # Only new rows default to the time of their upload: older ones have none yet.
        migrations.AlterField(
            model_name='uploadedfile',
            name='uploaded_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, null=True, verbose_name='uploaded'),
        ),
        migrations.AddField(
            model_name='uploadedfile',
            name='uploaded_by',
            field=models.ForeignKey(editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='uploader'),
        ),
        migrations.AddField(
            model_name='uploadedfile',
            name='has_preview',
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(describe_from_names, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='uploadedfile',
            index=models.Index(fields=['-uploaded_at', '-id'], name='uploader_newest_first'),
        ),
        migrations.AddIndex(
            model_name='uploadedfile',
            index=models.Index(fields=['size'], name='uploader_by_size'),
        ),
        migrations.AddIndex(
            model_name='uploadedfile',
            index=models.Index(fields=['content_type'], name='uploader_by_type', opclasses=['varchar_pattern_ops']),
        ),
    ]
