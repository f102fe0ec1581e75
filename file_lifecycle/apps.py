from django.apps import AppConfig


class FileLifecycleConfig(AppConfig):
    name = "file_lifecycle"
    verbose_name = "Stored files"
