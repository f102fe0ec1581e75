from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html

from file_lifecycle.admin import ManagedFilesAdmin
from file_lifecycle.fields import format_size
from uploader.models import UploadedFile

# What the change form shows of a file, above the field that replaces it.
DETAILS = ("name", "stored_as", "size_shown", "content_type", "uploaded_at", "uploaded_by")


class TypeFilter(admin.SimpleListFilter):
    """Files by kind, from fixed choices: listing the types in use would read every row."""

    title = "type"
    parameter_name = "type"
    KINDS: ClassVar = {
        "image": ("Images", "image/"),
        "pdf": ("PDF documents", "application/pdf"),
        "text": ("Text", "text/"),
        "audio": ("Audio", "audio/"),
        "video": ("Video", "video/"),
    }

    def lookups(self, request, model_admin):
        return [*((kind, label) for kind, (label, _) in self.KINDS.items()), ("other", "Other")]

    def queryset(self, request, queryset):
        if self.value() == "other":
            prefixes = (Q(content_type__startswith=prefix) for _, prefix in self.KINDS.values())
            return queryset.exclude(Q(*prefixes, _connector=Q.OR))
        if self.value() in self.KINDS:
            return queryset.filter(content_type__startswith=self.KINDS[self.value()][1])
        return queryset


@admin.register(UploadedFile)
class UploadedFileAdmin(ManagedFilesAdmin, admin.ModelAdmin):
    # Every column comes from the row (a preview's address too): no call to the storage per row.
    list_display = ("thumbnail", "name", "size_shown", "content_type", "uploaded_at", "uploaded_by")
    list_display += ("link",)
    list_display_links = ("thumbnail", "name")
    list_select_related = ("uploaded_by",)
    list_filter = (TypeFilter, "uploaded_by")
    search_fields = ("original_name",)
    date_hierarchy = "uploaded_at"
    ordering = ("-uploaded_at", "-id")
    # A second count of every row, for "N total", on each page: the list's one cost that grows.
    show_full_result_count = False
    readonly_fields = (*DETAILS, "preview", "link")

    class Media:
        css: ClassVar = {"all": ["uploader/uploader.css"]}

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["file"]
        details = [field for field in DETAILS if field != "stored_as" or obj.renamed]
        return [*details, "preview", "link", "file"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            # Django's widget would show the stored name with its internal folder.
            kwargs["widgets"] = {"file": forms.FileInput}
            kwargs["labels"] = {"file": "Replace with"}
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)
        if "file" in form.changed_data and obj.renamed:
            self.message_user(request, renamed_message(obj), messages.WARNING)

    @admin.display(description="name", ordering="original_name")
    def name(self, uploaded_file):
        return str(uploaded_file)

    @admin.display(description="stored as")
    def stored_as(self, uploaded_file):
        return f"{uploaded_file.stored_name} (the name had to change to be stored)"

    @admin.display(description="size", ordering="size")
    def size_shown(self, uploaded_file):
        return format_size(uploaded_file.size) if uploaded_file.size is not None else None

    @admin.display(description="preview")
    def thumbnail(self, uploaded_file):
        return self.image(uploaded_file, "uploader-thumbnail")

    @admin.display(description="preview")
    def preview(self, uploaded_file):
        return self.image(uploaded_file, "uploader-preview")

    def image(self, uploaded_file, css_class):
        if url := uploaded_file.preview_url:
            return format_html('<img src="{}" alt="" class="{}">', url, css_class)
        return ""

    @admin.display(description="file")
    def link(self, uploaded_file):
        action = "Open" if uploaded_file.opens_in_browser else "Download"
        return format_html('<a href="{}">{}</a>', uploaded_file.file.url, action)


def renamed_message(uploaded_file):
    return (
        f"“{uploaded_file.original_name}” is stored as “{uploaded_file.stored_name}”: "
        "names keep only letters, digits, dots, hyphens and underscores (spaces become "
        "underscores), and must fit the storage."
    )
