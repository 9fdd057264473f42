"""Signed operation URLs, as ARM hands them out since 2024, and their check on each poll.

ARM's ``Azure-AsyncOperation`` and ``Location`` URLs used to be a path and
``?api-version=`` (the recordings of 2022-2023 in
``shared/fixtures/arm-recordings`` have those). Since 2024 ARM appends four
query parameters that sign the URL: ``t`` (the issue instant in .NET ticks),
``c`` (the signing certificate, DER in base64url: about 2,400 characters,
issued to ``asyncoperationsigningcertificate.management.azure.com``), ``s``
(the signature, base64url) and ``h`` (a hash, base64url, 43 characters),
about 3,000 characters in all. The form is taken from URLs printed in
Microsoft's own documents (MicrosoftDocs/azure-docs,
``articles/operator-nexus/howto-validate-cables.md``, 2024-04:
``...operationStatuses/<id>?api-version=...&t=638485032018035520&c=MIIHHjCCBgag...``)
and from a public client's test of AKS operation URLs
(``...Microsoft.ContainerService/locations/westus/operations/<id>?api-version=2016-03-30&t=...&c=...&s=...&h=...``).

The simulator signs with a throwaway RSA key and a self-signed certificate of
that name, made once per process, and checks each poll of an operation it
handed a signed URL for: the poll must carry all four parameters and match
its signature; a URL cut short or re-encoded is not served. An operation
handed out unsigned (``RestSettings.signed_operation_urls`` off) is polled
unsigned. No public document says what ARM answers
to a tampered URL; the simulator answers as for an operation it does not know
(404 ``NotFound``), and counts the poll, so a test sees the whole URL the
client sent (:meth:`~patchpilot.sim.aks.SimulatedAks.polls`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

SIGNING_NAME: Final = "asyncoperationsigningcertificate.management.azure.com"
SIGNED_KEYS: Final = ("t", "c", "s", "h")
# .NET ticks: 100 ns units since 0001-01-01T00:00:00Z.
_TICKS_EPOCH: Final = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class _Signer:
    key: rsa.RSAPrivateKey
    certificate: str  # base64url DER


def ticks(moment: dt.datetime) -> int:
    """A moment in .NET ticks (what ARM's ``t`` parameter carries)."""
    delta = moment.astimezone(dt.UTC) - _TICKS_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def signed_query(path: str, api_version: str, issued: dt.datetime) -> str:
    """``api-version=...&t=...&c=...&s=...&h=...`` for an operation path, issued at ``issued``."""
    signer = _signer()
    t = str(ticks(issued))
    message = _message(path, api_version, t)
    signature = signer.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    digest = hashlib.sha256(message).digest()
    return urllib.parse.urlencode(
        {
            "api-version": api_version,
            "t": t,
            "c": signer.certificate,
            "s": _b64(signature),
            "h": _b64(digest),
        }
    )


def is_signed(url: str) -> bool:
    """Whether an operation URL carries ARM's signature parameters."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return all(key in query for key in SIGNED_KEYS)


def signature_holds(path: str, query: Mapping[str, str], *, required: bool) -> bool:
    """Whether a polled URL is as handed out: signed and unchanged, or unsigned if it was so."""
    present = [k for k in SIGNED_KEYS if k in query]
    if not present and not required:
        return True
    if len(present) != len(SIGNED_KEYS):
        return False
    signer = _signer()
    message = _message(path, query.get("api-version", ""), query["t"])
    if query["c"] != signer.certificate or query["h"] != _b64(hashlib.sha256(message).digest()):
        return False
    try:
        signer.key.public_key().verify(
            _unb64(query["s"]), message, padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _message(path: str, api_version: str, t: str) -> bytes:
    # Case-insensitive as ARM's paths are; the host is not signed (tests reach 127.0.0.1).
    return f"{path.lower()}?api-version={api_version}&t={t}".encode()


@functools.cache
def _signer() -> _Signer:
    """One key and certificate per process: RSA key generation costs ~50 ms."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SIGNING_NAME)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SIGNING_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_access(), critical=False)
        .add_extension(_crl(), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Signer(key, _b64(certificate.public_bytes(serialization.Encoding.DER)))


def _access() -> x509.AuthorityInformationAccess:
    """Where a real issuer's CA certificates are published (sizes the certificate as ARM's)."""
    hosts = ("crl.microsoft.com", "crl1.ame.gbl", "crl2.ame.gbl", "crl3.ame.gbl", "crl4.ame.gbl")
    return x509.AuthorityInformationAccess(
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(
                f"http://{host}/aia/simulator_AME%20Infra%20CA%2002.crt"
            ),
        )
        for host in hosts
    )


def _crl() -> x509.CRLDistributionPoints:
    hosts = ("crl.microsoft.com/pki/mscorp", "crl1.ame.gbl", "crl2.ame.gbl", "crl3.ame.gbl")
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                [
                    x509.UniformResourceIdentifier(
                        f"http://{host}/crl/AME%20Infra%20CA%2002(4).crl"
                    )
                    for host in hosts
                ],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
