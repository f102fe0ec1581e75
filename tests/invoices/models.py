from django.db import models

from file_lifecycle.fields import ManagedFileField


class Invoice(models.Model):
    number = models.CharField(max_length=20)
    pdf = ManagedFileField()

    def __str__(self):
        return self.number
