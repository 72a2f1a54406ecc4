"""TLS for the emulators: a throw-away self-signed certificate, and the server side of a
``CONNECT`` tunnel the forward proxy terminates itself (so an ``https://`` URL, such as a
wall's image on its own image host, reaches the plain-HTTP site emulator through the
proxy's exit, like any other request). Clients are not expected to verify the
certificate: Scrapy does not by default."""

from __future__ import annotations

import datetime
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: the names the certificate is for: the walls' own hosts the emulators serve over https
TLS_NAMES = (
    "localhost",
    "*.ssl-images-amazon.com",
    "*.media-amazon.com",
    "*.captcha-delivery.com",
    "*.example",
    "*.shop.example",
)
_LOCK = threading.Lock()
_CONTEXT: list[ssl.SSLContext] = []


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scrapy-captcha emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in TLS_NAMES]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context() -> ssl.SSLContext:
    """The process's TLS server context (one certificate, made on first use)."""
    with _LOCK:
        if not _CONTEXT:
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = _self_signed(Path(tmp))
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert, key)
            _CONTEXT.append(context)
        return _CONTEXT[0]
