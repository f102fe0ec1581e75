"""Settings of copy_database's worker (transfer/rows.py): the project's, with the database to
copy from as a second alias, "source", beside the default one that it copies to. Django's ORM
reaches a database only by an alias of DATABASES, set before it starts."""

import os

from myapp.configuration.database import settings_from
from myapp.settings import *  # noqa: F403 (the project's settings, all of them)
from myapp.settings import DATABASES

DATABASES = {**DATABASES, "source": settings_from(os.environ["COPY_DATABASE_SOURCE_DSN"])}
