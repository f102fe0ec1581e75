import datetime
import itertools
from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Max, Min, Q, QuerySet, Subquery
from django.utils import timezone
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


class ListQuerySet(QuerySet):
    """The list's rows. The admin's date hierarchy asks datetimes() for the years (or months,
    or days) that have rows: Django truncates every row's date and sorts them all (DISTINCT),
    the one cost of the list that grows with the table. Here, one query asks for the first row
    of each period between the first and the last date, each found in the index on
    uploaded_at."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in {"year", "month", "day"} or tzinfo is not None:
            return super().datetimes(field_name, kind, order, tzinfo)
        span = self.aggregate(first=Min(field_name), last=Max(field_name))
        if span["first"] is None:
            return []
        starts = period_starts(span["first"], span["last"], kind)
        # The first row of each period, by the index's order: a lookup in the index each.
        firsts = {
            f"p{index}": Subquery(
                self.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end})
                .order_by(field_name)
                .values(field_name)[:1]
            )
            for index, (start, end) in enumerate(itertools.pairwise(starts))
        }
        found = self.model._default_manager.annotate(**firsts).values(*firsts)[0]
        periods = [start for start, first in zip(starts, firsts, strict=False) if found[first]]
        return periods if order == "ASC" else periods[::-1]


def period_starts(first, last, kind):
    """The start of each period (of kind year, month or day) from first's to the one after
    last's, in the current time zone."""
    first, last = timezone.localtime(first), timezone.localtime(last)
    day = first.date()
    if kind != "day":
        day = day.replace(day=1)
    if kind == "year":
        day = day.replace(month=1)
    starts = []
    while not starts or starts[-1] <= last:
        starts.append(timezone.make_aware(datetime.datetime.combine(day, datetime.time())))
        if kind == "year":
            day = day.replace(year=day.year + 1)
        elif kind == "month":
            day = (day + datetime.timedelta(days=31)).replace(day=1)
        else:
            day += datetime.timedelta(days=1)
    return starts


@admin.register(UploadedFile)
class UploadedFileAdmin(ManagedFilesAdmin, admin.ModelAdmin):
    # Every column comes from the row (a preview's address too): no call to the storage per row.
    list_display = ("thumbnail", "name", "size_shown", "content_type", "uploaded_at", "uploaded_by")
    list_display += ("link",)
    list_display_links = ("name",)
    list_select_related = ("uploaded_by",)
    list_filter = (TypeFilter, "uploaded_by")
    search_fields = ("original_name",)
    date_hierarchy = "uploaded_at"
    ordering = ("-uploaded_at", "-id")
    # A second count of every row, for "N total", on each page; and a count of each filter's
    # choices, on request: costs that grow with the table.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = (*DETAILS, "preview", "link")

    class Media:
        css: ClassVar = {"all": ["uploader/uploader.css"]}

    def get_queryset(self, request):
        # ModelAdmin.get_queryset's, in the list's class.
        return ListQuerySet(self.model).order_by(*self.get_ordering(request))

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

    def object_for_upload(self, request, stored_name, chosen_name):
        uploaded_file = super().object_for_upload(request, stored_name, chosen_name)
        uploaded_file.original_name = chosen_name
        return uploaded_file

    def save_model(self, request, obj, form, change):
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)
        # On add, a new file whatever the form (a direct upload's completion has none).
        if (not change or "file" in form.changed_data) and obj.renamed:
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
