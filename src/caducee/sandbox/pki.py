"""A local test PKI for the sandboxes: one CA, one server certificate, client certificates.

The client certificate mimics an IGC-Santé "organisation" software certificate used for INSi in
mutual TLS: its CN must be INSI-AUTO or INSI-MANU (notes §3.4, DESIR_560 otherwise).
For the DMP, a structure holds two IGC-Santé ORG certificates (notes §1.1): an authentication one for
mutual TLS and a signature one for the VIHF and the XAdES lot signature; both are issued here too.
Everything is created once under DATA_DIR/sandbox/pki/ and reused; private keys are 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "TEST AC CADUCEE BAC A SABLE"
CLIENT_CN = "INSI-MANU"
DMP_AUTH_CN = "CADUCEE DMP AUTHENTIFICATION"
DMP_SIGN_CN = "CADUCEE DMP SIGNATURE"
_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class SandboxPki:
    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    dmp_client_cert: Path | None = None
    dmp_client_key: Path | None = None
    dmp_sign_cert: Path | None = None
    dmp_sign_key: Path | None = None


def ensure_pki(data_dir: Path) -> SandboxPki:
    """Create the sandbox PKI under data_dir/sandbox/pki once; return the paths of its PEM files."""
    directory = Path(data_dir) / "sandbox" / "pki"
    directory.mkdir(parents=True, exist_ok=True)
    pki = SandboxPki(
        directory=directory,
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        dmp_client_cert=directory / "dmp-auth.pem",
        dmp_client_key=directory / "dmp-auth.key",
        dmp_sign_cert=directory / "dmp-sign.pem",
        dmp_sign_key=directory / "dmp-sign.key",
    )
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        _create_ca(pki.ca_cert, pki.ca_key)
    if not (pki.server_cert.exists() and pki.server_key.exists()):
        _issue(pki, pki.server_cert, pki.server_key, common_name="localhost", server=True)
    if not (pki.client_cert.exists() and pki.client_key.exists()):
        issue_client_certificate(pki, pki.client_cert, pki.client_key, common_name=CLIENT_CN)
    assert pki.dmp_client_cert and pki.dmp_client_key and pki.dmp_sign_cert and pki.dmp_sign_key
    if not (pki.dmp_client_cert.exists() and pki.dmp_client_key.exists()):
        issue_client_certificate(pki, pki.dmp_client_cert, pki.dmp_client_key, common_name=DMP_AUTH_CN)
    if not (pki.dmp_sign_cert.exists() and pki.dmp_sign_key.exists()):
        issue_signature_certificate(pki, pki.dmp_sign_cert, pki.dmp_sign_key, common_name=DMP_SIGN_CN)
    return pki


def issue_client_certificate(pki: SandboxPki, cert_path: Path, key_path: Path, *, common_name: str) -> None:
    """A client certificate signed by the sandbox CA (tests use it for a wrong CN → DESIR_560)."""
    _issue(pki, cert_path, key_path, common_name=common_name, server=False)


def issue_signature_certificate(pki: SandboxPki, cert_path: Path, key_path: Path, *, common_name: str) -> None:
    """A signature certificate (digitalSignature + nonRepudiation), like an IGC-Santé ORG signature certificate."""
    _issue(pki, cert_path, key_path, common_name=common_name, server=False, signature=True)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created 0600 from the start: the key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CADUCEE BAC A SABLE"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _create_ca(cert_path: Path, key_path: Path) -> None:
    key = _new_key()
    name = _name(CA_NAME, "AUTORITE DE TEST")
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write_cert(cert_path, cert)


def _issue(
    pki: SandboxPki, cert_path: Path, key_path: Path, *, common_name: str, server: bool, signature: bool = False
) -> None:
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, "SERVEUR" if server else "SIGNATURE" if signature else "ORGANISATION"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=signature,
                key_encipherment=not signature,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if not signature:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.IPAddress(ipaddress.IPv6Address("::1")),
                ]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
