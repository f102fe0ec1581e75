from django.apps import AppConfig


class UploaderConfig(AppConfig):
    name = "uploader"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from uploader import checks  # noqa: F401 (registers the checks)
