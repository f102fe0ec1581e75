"""copy_database's worker between databases of different engines: every row of every model,
read from the "source" alias in chunks and written to the default one in batches
(bulk_create), in one transaction, with the sequences reset after.

    DJANGO_SETTINGS_MODULE=transfer.settings COPY_DATABASE_SOURCE_DSN=... \
        DEFAULT_DATABASE_DSN=... python -m transfer.rows

Content types and permissions are not copied: migrate made the target's own, whose keys may
differ, so references to them are mapped by their natural keys (app and model; and codename).
It prints one line per model that has rows; an error, one line on stderr.
"""

import sys

import django

# Rows read and written at a time: memory stays bounded whatever the tables hold.
BATCH = 2000


def main():
    django.setup()
    from django.apps import apps
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.color import no_style
    from django.db import DatabaseError, connections, transaction

    mapped = {ContentType: natural_keys(ContentType), Permission: natural_keys(Permission)}
    models = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed
        and not model._meta.proxy
        and not model._meta.swapped
        and model not in mapped
    ]
    try:
        with transaction.atomic():
            for model in models:
                copy_rows(model, mapped)
            target = connections["default"]
            with target.cursor() as cursor:
                for statement in target.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(statement)
    except DatabaseError as error:
        sys.exit(f"{model._meta.db_table}: {str(error).strip().splitlines()[0]}")


def natural_keys(model):
    """Each source key of model's rows, and the target's key of the row with the same natural
    key (None where the target has none)."""
    at_target = {item.natural_key(): item.pk for item in model._base_manager.using("default").all()}
    return {
        item.pk: at_target.get(item.natural_key())
        for item in model._base_manager.using("source").all()
    }


def copy_rows(model, mapped):
    # Values as they are at the source: a creation date is not made anew.
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            field.auto_now = field.auto_now_add = False
    references = [
        (field, mapped[field.related_model])
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model in mapped
    ]
    rows = model._base_manager.using("source").order_by("pk").iterator(chunk_size=BATCH)
    batch, copied = [], 0
    for row in rows:
        for field, keys in references:
            setattr(row, field.attname, keys.get(getattr(row, field.attname)))
        # A reference to something the target does not have (a model since removed), where
        # the column must have one, as a permission of a user: the row goes with it.
        if all(getattr(row, field.attname) is not None or field.null for field, _ in references):
            batch.append(row)
        if len(batch) == BATCH:
            model._base_manager.using("default").bulk_create(batch)
            copied += len(batch)
            batch = []
    model._base_manager.using("default").bulk_create(batch)
    copied += len(batch)
    if copied:
        print(f"{model._meta.label}: {copied} rows", flush=True)


if __name__ == "__main__":
    main()
