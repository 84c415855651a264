"""What the embedded server is told at each start: ``qc.conf``, ``pg_hba.conf``, ``pg_ident.conf``.

All three are rewritten at every start, so a cluster made by an older qc (``trust``
authentication, a world-open socket) is brought to the current rules by its next start.

Who may connect (docs/architecture/security.md): only through the unix socket, only as
the OS user who started the server (the checkout's owner) or the server account, checked
by the kernel (``peer`` authentication with the ``qc`` user map). There is no TCP listener
and no ``host`` line, unless a ``NetworkListener`` is given (the TLS tests use one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IDENT_MAP = "qc"
CERTIFICATE_FILE = "server.crt"
PRIVATE_KEY_FILE = "server.key"

# Settings for a single-user analytics database on a developer machine or CI runner.
# Durability stays at PostgreSQL's defaults (fsync, synchronous_commit): a load that
# reported success must survive a crash of the server. wal_level=minimal lets COPY into a
# table created in the same transaction skip WAL, which is how the loader writes a run.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "''",
    "unix_socket_permissions": "0700",
    "shared_buffers": "'256MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "jit": "off",
    "max_connections": "100",
    "timezone": "'UTC'",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class NetworkListener:
    """A TCP listener with TLS, for a server that must be reached over the network.

    The default embedded server never has one. ``certificate`` and ``private_key`` (PEM)
    are copied into the data folder at start; clients authenticate with a password
    (``scram-sha-256``), over TLS or not (``tls_only`` refuses unencrypted sessions).
    """

    address: str
    port: int
    certificate: Path
    private_key: Path
    tls_only: bool = False


def settings_text(listener: NetworkListener | None) -> str:
    settings = dict(SERVER_SETTINGS)
    if listener is not None:
        settings.update(
            {
                "listen_addresses": f"'{listener.address}'",
                "ssl": "on",
                "ssl_cert_file": f"'{CERTIFICATE_FILE}'",
                "ssl_key_file": f"'{PRIVATE_KEY_FILE}'",
                "password_encryption": "'scram-sha-256'",
            }
        )
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


def hba_text(listener: NetworkListener | None) -> str:
    lines = [
        "# Written by Quality Compass at every start; edits are lost (docs/architecture/security.md).",
        "# The unix socket only, and only the OS users of the ident map (peer authentication).",
        f"local all all peer map={IDENT_MAP}",
    ]
    if listener is not None:
        kind = "hostssl" if listener.tls_only else "host"
        lines.append(f"{kind} all all {listener.address}/32 scram-sha-256")
    return "\n".join(lines) + "\n"


def ident_text(os_users: Iterable[str], superuser: str, major_version: int) -> str:
    """The ``qc`` map: each OS user may connect as any role (PostgreSQL 16+), else as the superuser.

    The checkout's owner administers its server, so any role is no more than the superuser
    it already is; before PostgreSQL 16 the map cannot say "any role".
    """
    role = "all" if major_version >= 16 else f'"{superuser}"'
    lines = ["# Written by Quality Compass at every start; edits are lost."]
    for user in dict.fromkeys(os_users):
        if '"' in user or "\n" in user:
            continue  # cannot be written as a pg_ident token; that user is simply not let in
        lines.append(f'{IDENT_MAP} "{user}" {role}')
    return "\n".join(lines) + "\n"
