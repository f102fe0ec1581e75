# PendingDeletion moved to the file_lifecycle app, rows and all; UploadedFile.file became its
# ManagedFileField (the same column).

import file_lifecycle.fields
from django.db import migrations

FIELD = "uploader.UploadedFile.file"


class Migration(migrations.Migration):

    dependencies = [
        ('uploader', '0002_pendingdeletion'),
        ('file_lifecycle', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='uploadedfile',
            name='file',
            field=file_lifecycle.fields.ManagedFileField(max_length=255, upload_to=file_lifecycle.fields.own_folder),
        ),
        migrations.RunSQL(
            [
                "INSERT INTO file_lifecycle_pendingdeletion (name, field, created) "
                f"SELECT name, '{FIELD}', created FROM uploader_pendingdeletion ORDER BY id"
            ],
            reverse_sql=[
                "INSERT INTO uploader_pendingdeletion (name, created) SELECT name, created "
                f"FROM file_lifecycle_pendingdeletion WHERE field = '{FIELD}' ORDER BY id",
                f"DELETE FROM file_lifecycle_pendingdeletion WHERE field = '{FIELD}'",
            ],
        ),
        migrations.DeleteModel(
            name='PendingDeletion',
        ),
    ]
