"""The local broker's SASL_SSL listener (SCRAM-SHA-512 over TLS): certificates and broker
properties, for `make setup`/`make up` and for the private broker of the tests (its users are
the roles' SCRAM users: loanstream.kafka.acls, made by devstack/kafka_stack.py).

    python3 -m devstack.kafka_tls tls DIR
        a local CA and the broker's key, certificate (SAN 127.0.0.1, localhost) and PKCS12
        keystore in DIR, made once with openssl (nothing is downloaded); idempotent
    python3 -m devstack.kafka_tls properties DIR KAFKA_PORT CONTROLLER_PORT SASL_PORT
        print infra/kafka/sasl_ssl.properties.in filled in (appended to server.properties)

Both need only the standard library and openssl.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "kafka" / "sasl_ssl.properties.in"
MECHANISM = "SCRAM-SHA-512"
CA_FILE = "ca.pem"
_PRIVATE = ("ca.key", "broker.key", "broker.p12", "keystore.password")


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed in {cwd}: {result.stderr.strip()[-500:]}")


def make_tls(directory: Path, common_name: str = "loanstream local CA") -> Path:
    """A CA and a broker keystore signed by it in ``directory`` (kept if already there).

    Returns the CA certificate (what clients put in ``ssl.ca.location``). Private files are
    owner-only. ``common_name`` differs for a second, unrelated CA (the untrusted-CA test).
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if all((directory / name).is_file() for name in (CA_FILE, *_PRIVATE)):
        return directory / CA_FILE
    old_umask = os.umask(0o077)
    try:
        (directory / "keystore.password").write_text(secrets.token_hex(24) + "\n")
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
            "-keyout", "ca.key", "-out", CA_FILE, "-subj", f"/CN={common_name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", "broker.key",
            "-out", "broker.csr", "-subj", "/CN=127.0.0.1",
            cwd=directory,
        )  # fmt: skip
        (directory / "broker.ext").write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        )
        _openssl(
            "x509", "-req", "-in", "broker.csr", "-CA", CA_FILE, "-CAkey", "ca.key",
            "-set_serial", str(secrets.randbits(63)), "-days", "825", "-sha256",
            "-extfile", "broker.ext", "-out", "broker.pem",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
            "-certfile", CA_FILE, "-name", "broker", "-out", "broker.p12",
            "-passout", "file:keystore.password",
            cwd=directory,
        )  # fmt: skip
    finally:
        os.umask(old_umask)
    for name in ("broker.csr", "broker.ext"):
        (directory / name).unlink(missing_ok=True)
    (directory / CA_FILE).chmod(0o644)
    return directory / CA_FILE


def broker_properties(tls_dir: Path, kafka_port: int, controller_port: int, sasl_port: int) -> str:
    """The SASL_SSL block for server.properties (holds the keystore password: write it 0600)."""
    password = (tls_dir / "keystore.password").read_text().strip()
    return (
        TEMPLATE.read_text()
        .replace("@KAFKA_PORT@", str(kafka_port))
        .replace("@CONTROLLER_PORT@", str(controller_port))
        .replace("@SASL_PORT@", str(sasl_port))
        .replace("@TLS_DIR@", str(tls_dir))
        .replace("@KEYSTORE_PASSWORD@", password)
    )


def client_config(sasl_port: int, user: str, password: str, ca: Path) -> dict[str, str]:
    """librdkafka settings for the SASL_SSL listener (what the loanstream_kafka_<role> extras hold)."""
    return {
        "bootstrap.servers": f"127.0.0.1:{sasl_port}",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(ca),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["tls"] and len(argv) == 2:
        print(make_tls(Path(argv[1])))
        return 0
    if argv[:1] == ["properties"] and len(argv) == 5:
        sys.stdout.write(broker_properties(Path(argv[1]), *map(int, argv[2:])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
