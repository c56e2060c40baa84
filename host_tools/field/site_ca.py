"""A site's certificate authority: it signs the broker's certificate and each board's, so that
a board talks only to its site's broker and the broker knows each board by its certificate.

Keys are ECDSA P-256: the ESP32 image's mbedTLS verifies it (its sdkconfig turns off only the
Brainpool curves and Curve25519), a handshake costs less heap than with RSA-2048, and the
certificates stay under 700 bytes. The board gets DER in base64 (`tls` takes DER bytes); the
broker gets PEM files. A board's certificate names it as its MQTT user (`bourg-<device_id>`)
in its CN, which mosquitto's `use_identity_as_username` takes as the user its ACL applies to.

The CA lives 25 years, longer than the street furniture; a board's or the broker's
certificate 10 years. A certificate starts a day before it is made, so a board or broker
whose clock is a little behind still accepts it.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 25
LEAF_YEARS = 10


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: str
    key_pem: str

    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem.encode())

    def fingerprint(self) -> str:
        """The certificate's SHA-256 in hex, for a technician to compare."""
        return self.cert().fingerprint(hashes.SHA256()).hex()

    def cert_der_b64(self) -> str:
        return _b64(self.cert().public_bytes(serialization.Encoding.DER))

    def key_der_b64(self) -> str:
        key = serialization.load_pem_private_key(self.key_pem.encode(), None)
        return _b64(key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def new_ca(site: str) -> KeyPair:
    """A self-signed CA for `site`, allowed to sign leaf certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bourg {site} CA")])
    start = _now() - datetime.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return KeyPair(_cert_pem(cert), _key_pem(key))


def issue(ca: KeyPair, common_name: str, *, server_names: tuple[str, ...] = (),
          client: bool = True) -> KeyPair:
    """A leaf certificate signed by `ca`: a client's (a board, the operators' tools) named
    `common_name`, or, with `server_names`, the broker's for those host names and
    addresses (which the boards check against their config's mqtt.host)."""
    ca_cert = ca.cert()
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now() - datetime.timedelta(days=1)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(start)
         .not_valid_after(start + datetime.timedelta(days=365 * LEAF_YEARS))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca_key.public_key()), critical=False))
    if server_names:
        alt: list[x509.GeneralName] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server_names else []
    if client:
        usage.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return KeyPair(_cert_pem(b.sign(ca_key, hashes.SHA256())), _key_pem(key))


def board_secrets(ca: KeyPair, board: KeyPair) -> dict[str, str]:
    """What a board's secrets.json holds for TLS (bourg/mqtt_tls.py reads it)."""
    return {"tls_ca": ca.cert_der_b64(), "tls_cert": board.cert_der_b64(),
            "tls_key": board.key_der_b64()}


def revocation_list(ca: KeyPair, serials: list[int]) -> str:
    """The site's CRL (PEM) naming `serials`: certificates the broker must refuse although
    the CA signed them (a board stolen, a certificate rotated). mosquitto refuses every
    client once a CRL is past its next update, so it is made to last as long as the CA;
    `bourg provision mosquitto` writes a fresh one each time."""
    ca_cert = ca.cert()
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = _now() - datetime.timedelta(days=1)
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
         .last_update(now).next_update(ca_cert.not_valid_after_utc))
    for serial in serials:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(now).build())
    return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def problems_with(secrets: dict[str, object], device_id: str) -> list[tuple[str, str]]:
    """What is wrong with a board's TLS secrets beyond their form, which the board checks
    itself: the host checks what the board could only find at its first connection (the DER
    parses, the certificate comes from the CA given, the key is the certificate's, and the
    certificate names the board's MQTT user). [] when they are good."""
    from cryptography.exceptions import InvalidSignature

    def der(key: str) -> bytes:
        return base64.b64decode(str(secrets[key]), validate=True)

    try:
        ca = x509.load_der_x509_certificate(der("tls_ca"))
    except ValueError:
        return [("tls_ca", "not a DER certificate (from bourg provision)")]
    try:
        cert = x509.load_der_x509_certificate(der("tls_cert"))
    except ValueError:
        return [("tls_cert", "not a DER certificate (from bourg provision)")]
    try:
        key = serialization.load_der_private_key(der("tls_key"), None)
    except (ValueError, TypeError):
        return [("tls_key", "not a DER private key (from bourg provision)")]
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return [("tls_cert", "not signed by tls_ca (a certificate of another site?)")]
    if key.public_key() != cert.public_key():
        return [("tls_key", "not the key of tls_cert")]
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != f"bourg-{device_id}":
        return [("tls_cert", f"made for another board, not bourg-{device_id}")]
    return []
