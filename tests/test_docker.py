"""The Docker files, checked without a Docker engine: statically, and by running their commands."""

import json
import os
import re
import secrets
import signal
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import furl
import pytest
from django.core.files.base import ContentFile

from myapp.configuration.storages import S3Storage
from tests.helpers import (
    BASE_DIR,
    VENV_BIN,
    bucket_on,
    closed_endpoint,
    dockerfile_instructions,
    image_environ,
    running_server,
)

COMPOSE = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"


def compose(*arguments):
    result = subprocess.run(
        [COMPOSE, *arguments], cwd=BASE_DIR, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def compose_config():
    return json.loads(compose("config", "--format", "json"))


@pytest.fixture(scope="module")
def s3_profile_config():
    return json.loads(compose("--profile", "s3", "config", "--format", "json"))


@pytest.mark.parametrize("profile", [[], ["--profile", "s3"]], ids=["default", "s3"])
def test_compose_file_is_valid(profile):
    compose(*profile, "config", "--quiet")


def test_web_service_is_the_tutorial_setup(compose_config):
    web = compose_config["services"]["web"]

    assert web["build"]["context"] == str(BASE_DIR)
    assert [(p["published"], p["target"]) for p in web["ports"]] == [("8000", 80)]
    mounts = {(m["source"], m["target"]) for m in web["volumes"]}
    assert {(str(BASE_DIR), "/app"), (str(BASE_DIR / "data"), "/data")} <= mounts
    assert web["environment"]["DEFAULT_DATABASE_DSN"] == "postgres://postgres@postgres:5432/db"
    assert web["environment"]["DEFAULT_STORAGE_DSN"] == "file:///data/media/?url=%2Fmedia%2F"
    assert web["depends_on"]["db"]["condition"] == "service_healthy"


def test_db_service_is_what_the_divio_cli_expects(compose_config):
    db = compose_config["services"]["db"]

    assert db["image"].startswith("postgres:15")
    assert db["environment"]["POSTGRES_DB"] == "db"
    assert db["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert (str(BASE_DIR), "/app") in {(m["source"], m["target"]) for m in db["volumes"]}
    assert "postgres" in db["networks"]["default"]["aliases"]
    assert "pg_isready" in db["healthcheck"]["test"]


def test_s3_emulator_runs_only_with_its_profile(compose_config, s3_profile_config):
    assert {"s3", "s3-setup"}.isdisjoint(compose_config["services"])
    assert {"s3", "s3-setup"} <= s3_profile_config["services"].keys()
    # With the profile, the app starts once the bucket is made; without it, it does not wait.
    assert s3_profile_config["services"]["web"]["depends_on"]["s3-setup"] == {
        "condition": "service_completed_successfully",
        "required": False,
    }


def test_s3_emulator_is_a_pinned_release_checked_for_health(s3_profile_config):
    s3 = s3_profile_config["services"]["s3"]
    name, _, tag = s3["image"].partition(":")

    assert name == "versity/versitygw"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"{s3['image']} is not pinned to a release"
    command = s3["command"]
    health_path = command[command.index("--health") + 1]
    assert s3["healthcheck"]["test"][-1] == f"http://127.0.0.1:9000{health_path}"
    assert command[command.index("--port") + 1] == ":9000"
    # Files survive `docker compose down`, as media on the platform do.
    assert ("volume", "/data") in [(v["type"], v["target"]) for v in s3["volumes"]]
    assert command[-2:] == ["posix", "/data"]


@pytest.fixture(scope="module")
def env_local_s3_storage():
    """The app's storage for the S3 DSN commented out in .env-local."""
    (line,) = [
        line
        for line in (BASE_DIR / ".env-local").read_text().splitlines()
        if line.startswith("# DEFAULT_STORAGE_DSN=s3://")
    ]
    dsn = line.partition("=")[2]
    assert dsn in (BASE_DIR / "docs" / "s3.md").read_text()  # the S3 page shows the same DSN
    return S3Storage(furl.furl(dsn)), dsn


def test_env_local_has_the_dsn_that_uses_the_s3_emulator(s3_profile_config, env_local_s3_storage):
    storage, _ = env_local_s3_storage
    s3 = s3_profile_config["services"]["s3"]
    setup = s3_profile_config["services"]["s3-setup"]

    assert (storage.access_key, storage.secret_key) == (
        s3["environment"]["ROOT_ACCESS_KEY"],
        s3["environment"]["ROOT_SECRET_KEY"],
    )
    assert (storage.access_key, storage.secret_key) == (
        setup["environment"]["AWS_ACCESS_KEY_ID"],
        setup["environment"]["AWS_SECRET_ACCESS_KEY"],
    )
    # The app reaches the service by its name; the bucket is the one the setup made public.
    assert storage.endpoint_url == "http://s3:9000"
    assert setup["command"][-3:] == ["--endpoint", storage.endpoint_url, storage.bucket_name]
    # Browsers reach the port published on the host.
    assert ("9000", 9000) in [(port["published"], port["target"]) for port in s3["ports"]]
    assert storage.url("0123/a.txt") == f"http://localhost:9000/{storage.bucket_name}/0123/a.txt"


def run_s3_setup(s3_profile_config, endpoint, bucket):
    """The s3-setup service's command, run with its environment against another server."""
    setup = s3_profile_config["services"]["s3-setup"]
    program, *arguments = setup["command"]
    assert program == "python"
    arguments[-3:] = ["--endpoint", endpoint, bucket]
    return subprocess.run(
        [VENV_BIN / "python", *arguments],
        cwd=BASE_DIR,
        env={"PATH": os.defpath, **setup["environment"]},
        capture_output=True,
        text=True,
        check=False,
    )


def test_s3_setup_makes_a_bucket_whose_files_anyone_may_download(
    s3_profile_config, env_local_s3_storage, moto_server
):
    _, dsn = env_local_s3_storage
    bucket = f"media-{secrets.token_hex(4)}"
    # The DSN of .env-local, with the bucket and endpoint of the S3 server the tests use.
    url = furl.furl(dsn)
    url.host = url.host.replace("media.", f"{bucket}.", 1)
    url.args["endpoint"] = moto_server
    url.args["url"] = f"{moto_server}/{bucket}/"
    storage = S3Storage(url)

    first = run_s3_setup(s3_profile_config, moto_server, bucket)
    # Compose runs it at every `up`: the second run keeps the bucket and its files.
    name = storage.save("0123/a.txt", ContentFile(b"public"))
    again = run_s3_setup(s3_profile_config, moto_server, bucket)

    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert (
        f"Bucket {bucket!r} at {moto_server}: anyone may download its files; "
        "http://localhost:8000 may upload." in again.stdout
    )
    # The admin's pages on Compose's web port send files straight to the bucket.
    (rule,) = storage.connection.meta.client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert (rule["AllowedOrigins"], rule["AllowedMethods"]) == (
        ["http://localhost:8000"],
        ["POST", "PUT"],
    )
    # A browser, with no credentials, downloads what the app uploaded (without an ACL).
    with urllib.request.urlopen(storage.url(name)) as response:
        assert response.read() == b"public"


def test_files_in_a_bucket_the_setup_did_not_make_public_are_not_downloadable(moto_server):
    bucket, dsn = bucket_on(moto_server)
    storage = S3Storage(furl.furl(dsn).add({"acl": "none"}))
    name = storage.save("0123/a.txt", ContentFile(b"private"))

    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{moto_server}/{bucket.name}/{name}")
    error.value.close()
    assert error.value.code == 403


def test_s3_setup_says_in_one_line_when_the_server_cannot_be_reached(s3_profile_config):
    endpoint = closed_endpoint()

    result = run_s3_setup(s3_profile_config, endpoint, "media")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"Cannot make the public bucket 'media' at {endpoint}" in result.stderr
    assert "s3-local-secret" not in result.stderr


def test_dockerfile_lints_clean():
    result = subprocess.run(
        [VENV_BIN / "hadolint", "Dockerfile"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_build_collects_static_files_without_services(image_dir):
    manifest = json.loads((image_dir / "staticfiles" / "staticfiles.json").read_text())

    hashed = manifest["paths"]["admin/css/base.css"]
    assert (image_dir / "staticfiles" / f"{hashed}.br").exists()


@pytest.mark.slow
def test_cmd_serves_the_admin_with_its_styles_in_time(image_dir, tmp_path, compose_config):
    (cmd,) = dockerfile_instructions("CMD")
    argv = json.loads(cmd)
    assert argv[:2] == ["uvicorn", "myapp.asgi:application"]
    assert argv[argv.index("--host") + 1 :] == ["0.0.0.0", "--port", "80"]
    environ = image_environ(
        DOMAIN="127.0.0.1", DEFAULT_DATABASE_DSN=f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )
    probes = health_probes(compose_config)

    with running_server(image_dir, environ, tmp_path / "server.log") as server:
        page = get(f"http://127.0.0.1:{server.port}/admin/login/")
        answered_after = time.monotonic() - server.started
        stylesheet = re.search(r'href="(/static/admin/css/base\.\w+\.css)"', page)[1]
        css = get(f"http://127.0.0.1:{server.port}{stylesheet}")
        assert [run_probe(probe, server.port) for probe in probes] == [0, 0]

    log = server.log.read_text()
    assert [run_probe(probe, server.port) for probe in probes] == [1, 1]
    # The platform wants a positive answer within 20 seconds of the container's start.
    assert answered_after < 20, log
    assert ".module" in css
    assert "Warning" not in log
    # Uvicorn shuts down gracefully on the SIGTERM that `docker stop` sends, then re-raises it.
    assert "Finished server process" in log
    assert server.process.returncode in (0, -signal.SIGTERM), log


def health_probes(compose_config):
    """The Dockerfile's HEALTHCHECK command and the Compose web service's healthcheck."""
    (healthcheck,) = dockerfile_instructions("HEALTHCHECK")
    dockerfile_probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    compose_probe = compose_config["services"]["web"]["healthcheck"]["test"][1:]
    assert "/healthz" in dockerfile_probe[-1]
    assert "/readyz" in compose_probe[-1]
    return [dockerfile_probe, compose_probe]


def run_probe(probe, port):
    """Run a probe as the container would, against the server on port instead of port 80."""
    program, *arguments = probe
    assert program == "python"
    arguments[-1] = arguments[-1].replace("//127.0.0.1/", f"//127.0.0.1:{port}/")
    return subprocess.run([VENV_BIN / "python", *arguments], capture_output=True).returncode


def get(url):
    """GET url as the platform's load balancer forwards a request, once it has ended TLS."""
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request) as response:
        return response.read().decode()


def test_entrypoint_is_the_projects_script_as_the_image_copies_it():
    (entrypoint,) = dockerfile_instructions("ENTRYPOINT")
    (workdir,) = dockerfile_instructions("WORKDIR")
    ignored = (BASE_DIR / ".dockerignore").read_text().splitlines()

    assert f". {workdir}" in dockerfile_instructions("COPY")
    assert json.loads(entrypoint) == [f"{workdir}/docker-entrypoint.sh"]
    assert "docker-entrypoint.sh" not in ignored
    # Git keeps the executable bit, which the image (and Compose's bind mount of .) keep too.
    assert os.access(BASE_DIR / "docker-entrypoint.sh", os.X_OK)


requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the entrypoint changes users, which takes root (as in a container)"
)


@pytest.fixture
def world_readable_tmp_path():
    """A temporary folder that the users the entrypoint switches to can reach."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)
        yield Path(folder)


def run_entrypoint(media_dir, command):
    return subprocess.run(
        [BASE_DIR / "docker-entrypoint.sh", "sh", "-c", command],
        env={"PATH": os.defpath, "MEDIA_DIR": str(media_dir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


@requires_root
def test_entrypoint_runs_as_the_owner_of_a_bind_mounted_media_folder(world_readable_tmp_path):
    media_dir = world_readable_tmp_path / "media"
    media_dir.mkdir()
    os.chown(media_dir, 4321, 4322)

    uid, gid, ambient = run_entrypoint(
        media_dir, f'id -u; id -g; grep CapAmb /proc/self/status | cut -f2; touch "{media_dir}/x"'
    )

    assert (uid, gid) == ("4321", "4322")
    # CAP_NET_BIND_SERVICE (bit 10) lets the unprivileged server listen on port 80.
    assert int(ambient, 16) == 1 << 10
    assert (media_dir / "x").stat().st_uid == 4321


@requires_root
def test_entrypoint_gives_a_root_owned_media_folder_to_the_app_user(world_readable_tmp_path):
    media_dir = world_readable_tmp_path / "volume" / "media"
    (media_dir / "old").mkdir(parents=True)

    (uid,) = run_entrypoint(media_dir, f'id -u; touch "{media_dir}/old/y"')

    assert uid == "1000"
    assert (media_dir / "old" / "y").stat().st_uid == 1000


@requires_root
def test_entrypoint_makes_the_media_folder_of_a_fresh_clone_for_the_owner_of_data(
    world_readable_tmp_path,
):
    # A fresh clone bind-mounted at /data: ./data is the host user's, ./data/media is not there.
    data_dir = world_readable_tmp_path / "data"
    data_dir.mkdir()
    os.chown(data_dir, 4321, 4322)
    media_dir = data_dir / "media"

    (uid,) = run_entrypoint(media_dir, f'id -u; touch "{media_dir}/x" "{data_dir}/db.sqlite3"')

    assert uid == "4321"
    written = [media_dir, media_dir / "x", data_dir / "db.sqlite3"]
    assert [(path.stat().st_uid, path.stat().st_gid) for path in written] == [(4321, 4322)] * 3
