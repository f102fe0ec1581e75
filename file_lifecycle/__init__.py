"""Stored files kept in step with their rows, for any model, by declaration.

- A model: `file = ManagedFileField()` (file_lifecycle.fields) instead of models.FileField.
- Its admin: `class MyAdmin(ManagedFilesAdmin, admin.ModelAdmin)` (file_lifecycle.admin).
- A view of your own that saves such rows: `with file_operations():` (file_lifecycle.lifecycle)
  around its transaction, and StorageUnavailable's message shown to the user.

The guarantees, and reconcile_media: docs/uploads-and-failures.md.
"""
