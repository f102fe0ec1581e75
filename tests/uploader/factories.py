import factory

from uploader.models import UploadedFile


class UploadedFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UploadedFile

    file = factory.django.FileField(filename="hello.txt", data=b"Hello, world!\n")
