# syntax=docker/dockerfile:1

# The newest Python that CI tests (see requires-python in pyproject.toml), on Debian 13.
FROM python:3.13-slim-trixie AS build

# psycopg2 is built from source against libpq, as production images should.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install --no-cache-dir --requirement /tmp/requirements.txt


FROM python:3.13-slim-trixie

RUN apt-get update \
    && apt-get install --yes --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

# The unprivileged user the app runs as, owning the media folder in the image.
RUN groupadd --gid 1000 app \
    && useradd --uid 1000 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data/media \
    && chown -R app:app /data

COPY --from=build /venv /venv
ENV PATH="/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY . /app

# No service or variable is there at build time: a throwaway key for this one command.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --no-input --verbosity 0

# Copied with the project above (and, under Compose, the bind mount of . gives the same file).
ENTRYPOINT ["/app/docker-entrypoint.sh"]

EXPOSE 80
# Liveness only: a database or storage outage is for /readyz to report, not a reason to restart.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1/healthz', timeout=4)"]
CMD ["uvicorn", "myapp.asgi:application", "--http", "myapp.serving.protocol:HttpToolsProtocol", "--ws", "none", "--no-proxy-headers", "--no-access-log", "--host", "0.0.0.0", "--port", "80"]
