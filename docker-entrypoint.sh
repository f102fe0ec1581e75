#!/bin/sh
# Start the container's command as an unprivileged user that can write the media folder.
#
# Started as root (the default), it runs the command as the owner of $MEDIA_DIR: the
# image's "app" user, or, when Docker Compose bind-mounts ./data from the host, the host
# user who owns it, so files written there stay editable on both sides. A missing media
# folder is made for the owner of the folder it is made in (./data on a fresh clone). A
# root-owned folder (a fresh volume) is handed to "app" first. The command keeps the right
# to listen on port 80. Started as another user (docker run --user), it changes nothing.
set -eu

media_dir="${MEDIA_DIR:-/data/media}"
app_uid="${APP_UID:-1000}"
app_gid="${APP_GID:-1000}"

if [ "$(id -u)" != 0 ]; then
    exec "$@"
fi

if [ ! -d "$media_dir" ]; then
    parent=$(dirname "$media_dir")
    mkdir -p "$parent"
    mkdir "$media_dir"
    chown "$(stat -c %u:%g "$parent")" "$media_dir"
fi
if [ "$(stat -c %u "$media_dir")" = 0 ]; then
    chown -R "$app_uid:$app_gid" "$media_dir"
fi
uid=$(stat -c %u "$media_dir")
gid=$(stat -c %g "$media_dir")

exec setpriv --reuid="$uid" --regid="$gid" --clear-groups \
    --inh-caps=+net_bind_service --ambient-caps=+net_bind_service "$@"
