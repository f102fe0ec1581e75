"""What `make run` checks before it installs, migrates or serves, each problem in one line.

- The port is free: otherwise Uvicorn would say only "[Errno 98]", after the migrations.
- No file that the run writes belongs to another user. One `make run` as root (sudo) leaves
  root-owned .venv/, staticfiles/ and data/, which the next run as yourself cannot write: it
  would stop with a long traceback. Run as root in a checkout that is not root's, it warns.

    python scripts/check-run.py --host 127.0.0.1 --port 8000 .venv staticfiles data

Standard library only: it runs before the virtualenv exists.
"""

import argparse
import errno
import os
import pwd
import socket
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"user {uid}"


def port_problem(host, port):
    """Why Uvicorn could not listen on host:port, or None. It binds as Uvicorn does, with
    SO_REUSEADDR, so that a port left in TIME_WAIT by a server just stopped counts as free."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        return f"HOST={host} is not an address or a host name: use e.g. HOST=127.0.0.1"
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"Port {port} on {host} is already in use (another make run?): stop that "
                    f"server, or choose another port, e.g. make run PORT={port + 1}"
                )
            if error.errno == errno.EACCES:
                return f"Port {port} needs root privileges: choose one from 1024, e.g. PORT=8000"
            if error.errno == errno.EADDRNOTAVAIL:
                return f"HOST={host} is not an address of this machine: use e.g. HOST=127.0.0.1"
            return f"Cannot listen on {host} port {port}: {error.strerror}"
    return None


def foreign_owner(folder):
    """The uid of another user owning the folder or anything in it, or None."""
    uid = os.getuid()
    if not os.path.lexists(folder):
        return None
    if os.lstat(folder).st_uid != uid:
        return os.lstat(folder).st_uid
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            owner = os.lstat(os.path.join(parent, name)).st_uid
            if owner != uid:
                return owner
    return None


def ownership_problem(folders):
    """A line saying which folders hold another user's files, and how to take them back."""
    owned = {folder: foreign_owner(BASE_DIR / folder) for folder in folders}
    foreign = [folder for folder, owner in owned.items() if owner is not None]
    if not foreign:
        return None
    owner = user_name(owned[foreign[0]])
    names = " ".join(foreign)
    return (
        f"Files of {owner} in {', '.join(f'{folder}/' for folder in foreign)} of {BASE_DIR} (left "
        f"by a make run as {owner}?) that you cannot write: take them back with "
        f"sudo chown -R {user_name(os.getuid())}: {names}"
    )


def main(arguments):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True)
    parser.add_argument("folders", nargs="*", help="folders the run writes")
    arguments = parser.parse_args(arguments)
    if not arguments.port.isdigit() or not 0 < int(arguments.port) < 65536:
        return f"PORT={arguments.port} is not a port number: use e.g. PORT=8000"
    checkout_owner = BASE_DIR.stat().st_uid
    if os.getuid() == 0 and checkout_owner != 0:
        print(
            f"Warning: running as root in {user_name(checkout_owner)}'s checkout: the files it "
            f"writes ({', '.join(arguments.folders)}) will belong to root, and stop "
            f"{user_name(checkout_owner)}'s next make run: run make as {user_name(checkout_owner)}",
            file=sys.stderr,
        )
    elif os.getuid() != 0 and (problem := ownership_problem(arguments.folders)):
        return problem
    return port_problem(arguments.host, int(arguments.port))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
