"""The secured lab (`security: sasl_ssl`): a lab CA and broker certificates, SCRAM users and their
passwords, the brokers' security settings, ACLs for each principal, and client config files.

Everything lives in `<lab state>/security/`; keys and anything holding a password are 0600, and a
password is a `Secret` that prints as a mask. This module returns data and paths; the runtime
renders the broker settings, formats storage with `format_args`, and routes clients through
`client_config`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import socket
import ssl
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from linklab.errors import LabError

MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"  # the super user: the brokers between themselves, the kit's own admin calls
LINK = "sa-link"  # the link's service account: only the ACLs replication needs
DEMO = "sa-demo"  # the demo's clients: produce and consume the data topics
USERS = (ADMIN, LINK, DEMO)

# Listener names in server.properties. The controller listener is TLS with client certificates
# (mTLS): SCRAM credentials live in the metadata log the controllers serve, so KRaft cannot
# authenticate controller connections with SCRAM (Kafka docs, "SASL/SCRAM ... in KRaft").
CLIENT_LISTENER = "SASL_SSL"
CONTROLLER_LISTENER = "CONTROLLER"

CA_DAYS = 3650
CERT_DAYS = 825
_RENEW_WITHIN = dt.timedelta(days=7)  # a certificate this close to expiry is made again

SECURITY_DIR = "security"
SECRETS_FILE = "secrets.properties"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
# The CA as a JKS truststore, for a reader that takes no PEM: ksqlDB's KsqlRestConfig accepts
# only JKS, PKCS12 or BCFKS for ssl.truststore.type. Public, like ca.pem.
CA_JKS = "ca.jks"
NEW_LAB_FIX = "Run `invoke down` and `invoke up` again: the kit makes a new CA and certificates."


class Secret:
    """A password. Printing, repr, f-strings and json show a mask; `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not value:
            raise ValueError("a secret cannot be empty")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __copy__(self) -> Secret:
        return self  # immutable

    def __deepcopy__(self, memo: dict) -> Secret:
        return self  # dataclasses.asdict deep-copies fields

    def __reduce__(self):  # pickling would write the value: refuse, as json does
        raise TypeError("a Secret is not pickled")

    @classmethod
    def generate(cls) -> Secret:
        return cls(secrets.token_urlsafe(24))  # [A-Za-z0-9_-]: safe in every config syntax


@dataclass(frozen=True)
class User:
    """A SCRAM user of every cluster in the lab."""

    name: str
    password: Secret = field(repr=False)

    @property
    def principal(self) -> str:
        return f"User:{self.name}"


@dataclass(frozen=True)
class LabSecurity:
    """The lab's security material on disk: CA, broker keystores, users."""

    dir: Path
    users: dict[str, User]

    @property
    def ca_cert(self) -> Path:
        return self.dir / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.dir / CA_KEY

    @property
    def secrets_file(self) -> Path:
        return self.dir / SECRETS_FILE

    def keystore(self, cluster: str) -> Path:
        """The broker's PEM keystore: its private key, then its certificate and the CA's."""
        return self.dir / f"{cluster}-broker.pem"

    def broker_principal(self, cluster: str) -> str:
        """The principal a broker's certificate authenticates as on the controller listener."""
        return f"User:CN={broker_cn(cluster)}"

    def user(self, name: str) -> User:
        try:
            return self.users[name]
        except KeyError:
            raise LabError(
                f"The lab has no user {name!r} (it has {', '.join(self.users)}).",
                f"Use one of {', '.join(self.users)}.",
            ) from None


def broker_cn(cluster: str) -> str:
    return f"linklab-{cluster}-broker"


def security_dir(state_dir: Path) -> Path:
    return Path(state_dir) / SECURITY_DIR


# -- files ----------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes | str) -> None:
    """Write a file only its owner can read, never readable by others even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)  # the umask cannot widen it, but a stricter one must not narrow it
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)


def _read_properties(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


# -- certificates ---------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    # Unencrypted PKCS#8: what Kafka's PEM keystore reads without ssl.key.password; the file is
    # 0600 in a folder the lab owns.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(days: int = CA_DAYS, now: dt.datetime | None = None):
    """A new lab CA: (private key, self-signed certificate)."""
    now = now or _now()
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "linklab lab CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "linklab"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def cert_hosts(cluster: str, hosts: Iterable[str] = ()) -> list[str]:
    """The DNS names of a cluster's broker certificate: localhost, the cluster's name (a
    1-broker cluster's container host name) and `hosts`, once each, in that order."""
    return list(dict.fromkeys(["localhost", cluster, *hosts]))


def make_broker_cert(
    cluster: str,
    ca_key,
    ca_cert: x509.Certificate,
    days: int = CERT_DAYS,
    now: dt.datetime | None = None,
    hosts: Iterable[str] = (),
):
    """A broker's (private key, certificate) signed by the lab CA, valid for 127.0.0.1,
    localhost, the cluster's name and `hosts` (the host names its brokers have inside a compose
    network), usable as a TLS server (its listeners) and client (to its controllers).

    One certificate serves every broker of a cluster: natively they all listen on 127.0.0.1,
    and in a compose network each broker's host name is among `hosts`. So a cluster's brokers
    share one principal (User:CN=linklab-<cluster>-broker), the one super user they need."""
    now = now or _now()
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, broker_cn(cluster))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    *(x509.DNSName(h) for h in cert_hosts(cluster, hosts)),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def jks_truststore(certs: Mapping[str, x509.Certificate]) -> bytes:
    """A JKS keystore (version 2) holding `certs` as trusted certificate entries, by alias.

    Its integrity digest is keyed with the empty password: it holds only public certificates,
    Java loads it unchecked when given no password (Kafka's clients) and checked when given ""
    (ksqlDB's default ssl.truststore.password). Layout, as the JDK's JavaKeyStore reads it:
    magic 0xFEEDFEED, version 2, entry count; per entry tag 2, alias (modified UTF-8 with a
    2-byte length), creation time in ms, "X.509", the DER length and bytes; then the SHA-1 of
    the password's UTF-16BE bytes, b"Mighty Aphrodite" and everything before it."""

    def utf(text: str) -> bytes:
        raw = text.encode()  # the aliases and "X.509" are ASCII: modified UTF-8 is the same
        return struct.pack(">H", len(raw)) + raw

    body = struct.pack(">III", 0xFEEDFEED, 2, len(certs))
    for alias, cert in certs.items():
        der = cert.public_bytes(serialization.Encoding.DER)
        created = int(cert.not_valid_before_utc.timestamp() * 1000)  # the same bytes each time
        body += struct.pack(">I", 2) + utf(alias.lower()) + struct.pack(">Q", created)
        body += utf("X.509") + struct.pack(">I", len(der)) + der
    return body + hashlib.sha1(b"Mighty Aphrodite" + body).digest()


def read_certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except FileNotFoundError:
        raise LabError(f"The certificate file {path} is missing.", NEW_LAB_FIX) from None
    except ValueError as e:
        raise LabError(f"{path} holds no readable PEM certificate ({e}).", NEW_LAB_FIX) from None


def certificate_problem(
    cert: x509.Certificate, ca: x509.Certificate, now: dt.datetime | None = None
) -> str | None:
    """Why `cert` would be refused by a client trusting only `ca`, or None when it would not."""
    now = now or _now()
    who = cert.subject.rfc4514_string()
    if cert.issuer != ca.subject:
        return (
            f"{who} was issued by {cert.issuer.rfc4514_string()}, not by the CA clients "
            f"trust ({ca.subject.rfc4514_string()})"
        )
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return f"{who} carries the CA's name but was not signed by this CA (a different lab CA)"
    for c, what in ((ca, "the lab CA"), (cert, who)):
        if now > c.not_valid_after_utc:
            return f"{what} expired on {c.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        if now < c.not_valid_before_utc:
            return f"{what} is not valid before {c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None


def check_certificates(
    sec: LabSecurity, clusters: Iterable[str], now: dt.datetime | None = None
) -> None:
    """Raise a LabError naming the fix when a broker certificate is expired or not from the CA."""
    ca = read_certs(sec.ca_cert)[0]
    for cluster in clusters:
        chain = read_certs(sec.keystore(cluster))
        problem = certificate_problem(chain[0], ca, now)
        if problem:
            raise LabError(
                f"The {cluster} broker's certificate is unusable: {problem}.", NEW_LAB_FIX
            )


def probe_tls(bootstrap: str, ca_file: Path, timeout: float = 5.0) -> LabError | None:
    """Connect to a TLS listener as a client trusting `ca_file` would; return the error a user
    should see (expired, wrong CA, wrong host) or None when the handshake succeeds."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        return LabError(
            f"The CA file {ca_file} is missing.",
            "Point ssl.ca.location at the lab's CA "
            f"(<lab>/{SECURITY_DIR}/{CA_CERT}), or `invoke up` to make it.",
        )
    except ssl.SSLError as e:
        return LabError(f"{ca_file} holds no readable CA certificate ({e}).", NEW_LAB_FIX)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host):
                return None
    except ssl.SSLCertVerificationError as e:
        reason = e.verify_message or str(e)
        if "expired" in reason:
            fix = "The broker's certificate expired. " + NEW_LAB_FIX
        elif "issuer" in reason or "self-signed" in reason or "self signed" in reason:
            fix = (
                f"The broker's certificate is not from the CA in {ca_file}: point "
                "ssl.ca.location at the CA that signed it (the lab's is "
                f"<lab>/{SECURITY_DIR}/{CA_CERT})."
            )
        else:
            fix = "Check the address against the certificate's names (127.0.0.1, localhost)."
        return LabError(f"TLS to {bootstrap} refused the broker's certificate: {reason}.", fix)
    except ssl.SSLError as e:
        return LabError(
            f"TLS to {bootstrap} failed: {e.reason or e}.",
            "Check that this address is a TLS (SASL_SSL) listener.",
        )
    except OSError as e:
        return LabError(f"Nothing answers on {bootstrap}: {e}.", "Start the lab (`invoke up`).")


# -- making and loading the material --------------------------------------------------------


def _dns_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(san.get_values_for_type(x509.DNSName))


def ensure(
    state_dir: Path,
    clusters: Iterable[str],
    now: dt.datetime | None = None,
    hosts: Mapping[str, Iterable[str]] | None = None,
) -> LabSecurity:
    """Make (once) the lab CA, a certificate per cluster (shared by its brokers) and the users'
    passwords in `<state_dir>/security/`; later calls reuse them, making a certificate again
    near its expiry or when `hosts` (a cluster's broker host names) names one it lacks."""
    now = now or _now()
    d = security_dir(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    ca_cert_path, ca_key_path = d / CA_CERT, d / CA_KEY
    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = read_certs(ca_cert_path)[0]
        if ca_cert.not_valid_after_utc - now < _RENEW_WITHIN:
            raise LabError(
                f"The lab CA in {ca_cert_path} expires on "
                f"{ca_cert.not_valid_after_utc:%Y-%m-%d}; every certificate with it.",
                NEW_LAB_FIX,
            )
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    else:
        ca_key, ca_cert = make_ca(now=now)
        _write_private(ca_key_path, _key_pem(ca_key))
        _write_public(ca_cert_path, _cert_pem(ca_cert))
    _write_public(d / CA_JKS, jks_truststore({"linklab-ca": ca_cert}))
    for cluster in clusters:
        names = cert_hosts(cluster, (hosts or {}).get(cluster, ()))
        store = d / f"{cluster}-broker.pem"
        if store.exists():
            chain = read_certs(store)
            usable = certificate_problem(chain[0], ca_cert, now + _RENEW_WITHIN) is None
            if usable and set(names) <= _dns_names(chain[0]):
                continue
        key, cert = make_broker_cert(cluster, ca_key, ca_cert, now=now, hosts=names)
        _write_private(store, _key_pem(key) + _cert_pem(cert) + _cert_pem(ca_cert))
    secrets_path = d / SECRETS_FILE
    known = _read_properties(secrets_path) if secrets_path.exists() else {}
    wanted = {f"{u}.password" for u in USERS}
    if not wanted <= known.keys():
        for k in wanted - known.keys():
            known[k] = Secret.generate().reveal()
        lines = [
            "# SCRAM passwords of the lab's users (made by linklab; never commit this).",
            *(f"{k}={known[k]}" for k in sorted(known)),
        ]
        _write_private(secrets_path, "\n".join(lines) + "\n")
    return load(state_dir)


def load(state_dir: Path) -> LabSecurity:
    """The lab's security material as `ensure` left it."""
    d = security_dir(state_dir)
    path = d / SECRETS_FILE
    if not path.exists():
        raise LabError(
            f"The secured lab's passwords are missing ({path}).",
            "Start the lab (`invoke up`), which makes them; or `invoke down` first "
            "if the lab folder is half made.",
        )
    known = _read_properties(path)
    users = {}
    for name in USERS:
        value = known.get(f"{name}.password")
        if not value:
            raise LabError(f"{path} has no password for {name}.", NEW_LAB_FIX)
        users[name] = User(name, Secret(value))
    return LabSecurity(dir=d, users=users)


# -- the brokers ----------------------------------------------------------------------------


def format_args(sec: LabSecurity) -> list[str]:
    """Extra arguments for `kafka-storage format` (kafka.tools.StorageTool format): every lab
    user as a SCRAM-SHA-512 credential in the bootstrap metadata (KIP-900). They hold the
    passwords: pass them through `java_argfile`, never on a command line nor to a log."""
    out = []
    for user in sec.users.values():
        out += ["--add-scram", f"{MECHANISM}=[name={user.name},password={user.password.reveal()}]"]
    return out


def java_argfile(path: Path, args: list[str]) -> str:
    """Write `args` as a java @argfile only its owner can read and return the one argument,
    `@path`, that stands for them: what a JVM gets this way is not on its command line (which
    every user reads in /proc/<pid>/cmdline). The launcher expands an @argfile only before the
    main class, so `args` starts with the main class. Each argument is double-quoted, with its
    backslashes and double quotes escaped (the launcher's argfile syntax)."""
    quoted = ('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in args)
    _write_private(path, "\n".join(quoted) + "\n")
    return f"@{path}"


def server_properties(
    sec: LabSecurity,
    cluster: str,
    broker_port: int,
    controller_port: int,
    mounted_at: str | None = None,
    host: str = "127.0.0.1",
    controller: bool = True,
) -> dict[str, str]:
    """One broker's settings for `security: sasl_ssl`, overriding the PLAINTEXT listener lines
    of server.properties. SASL_SSL (SCRAM-SHA-512) for clients and between brokers (as admin),
    TLS with client certificates between brokers and controllers, StandardAuthorizer denying
    what no ACL allows. No password is written here: the admin's is read from the secrets file
    by Kafka's FileConfigProvider when the broker starts.

    `controller`: the broker is a voter of the KRaft quorum and binds the CONTROLLER listener
    on `controller_port`; a broker-only node binds none (Kafka refuses one) but still reaches
    the voters on it, over TLS with the cluster's certificate. `mounted_at`: where a container
    sees the security folder (docker runtime), if not at its host path."""

    def where(path: Path) -> str:
        return f"{mounted_at.rstrip('/')}/{path.relative_to(sec.dir)}" if mounted_at else str(path)

    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="${{file:{where(sec.secrets_file)}:{ADMIN}.password}}";'
    )
    client = CLIENT_LISTENER.lower()
    ctrl = CONTROLLER_LISTENER.lower()
    return {
        "listeners": f"{CLIENT_LISTENER}://{host}:{broker_port}"
        + (f",{CONTROLLER_LISTENER}://{host}:{controller_port}" if controller else ""),
        "advertised.listeners": f"{CLIENT_LISTENER}://127.0.0.1:{broker_port}",
        "listener.security.protocol.map": f"{CLIENT_LISTENER}:SASL_SSL,{CONTROLLER_LISTENER}:SSL",
        "inter.broker.listener.name": CLIENT_LISTENER,
        "controller.listener.names": CONTROLLER_LISTENER,
        # TLS on every listener, from PEM files (KIP-651).
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": where(sec.keystore(cluster)),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": where(sec.ca_cert),
        "ssl.endpoint.identification.algorithm": "https",
        f"listener.name.{ctrl}.ssl.client.auth": "required",
        # SCRAM on the client listener; the broker itself signs in as admin.
        "sasl.enabled.mechanisms": MECHANISM,
        f"listener.name.{client}.sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.{client}.{MECHANISM.lower()}.sasl.jaas.config": jaas,
        "config.providers": "file",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        # Authorization: what no ACL allows is denied; admin and the brokers (by certificate,
        # on the controller listener) are super users.
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN};{sec.broker_principal(cluster)}",
    }


def override_properties(text: str, overrides: dict[str, str]) -> str:
    """A rendered .properties text with `overrides` applied: a key's line replaced where it is,
    keys it lacks appended under a heading."""
    lines = text.splitlines()
    left = dict(overrides)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#") or "=" not in stripped:
            continue
        key = stripped.split("=", 1)[0].strip()
        if key in left:
            lines[i] = f"{key}={left.pop(key)}"
    if left:
        lines += ["", "# security: sasl_ssl (linklab.security)"]
        lines += [f"{k}={v}" for k, v in left.items()]
    return "\n".join(lines) + "\n"


# -- clients ----------------------------------------------------------------------------------


def client_config(sec: LabSecurity, user: str, bootstrap: str | None = None) -> dict:
    """confluent-kafka (librdkafka) settings for `user`; add to any client's config. The
    password is revealed here, in memory only."""
    u = sec.user(user)
    conf = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": MECHANISM,
        "sasl.username": u.name,
        "sasl.password": u.password.reveal(),
        "ssl.ca.location": str(sec.ca_cert),
    }
    if bootstrap:
        conf["bootstrap.servers"] = bootstrap
    return conf


def java_client_config(sec: LabSecurity, user: str, bootstrap: str | None = None) -> dict:
    """The same for Java clients (Kafka's CLI tools with --command-config, MirrorMaker 2)."""
    u = sec.user(user)
    conf = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{u.name}" password="{u.password.reveal()}";',
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(sec.ca_cert),
    }
    if bootstrap:
        conf["bootstrap.servers"] = bootstrap
    return conf


@dataclass(frozen=True)
class ClientFiles:
    """A cluster's client config files for one user (both 0600: they hold the password)."""

    cluster: str
    user: str
    librdkafka: Path  # kcat -F, confluent-kafka
    java: Path  # kafka-*.sh --command-config


def write_client_files(
    sec: LabSecurity,
    cluster: str,
    bootstrap: str,
    users: Iterable[str] = (DEMO, ADMIN),
    out_dir: Path | None = None,
) -> list[ClientFiles]:
    """Write `<out_dir>/<cluster>-<user>.properties` (librdkafka) and
    `...-<user>.java.properties` (Java) for each user; `out_dir` is `<security>/clients` unless
    given."""
    out = []
    for user in users:
        base = (out_dir or sec.dir / "clients") / f"{cluster}-{user}"
        files = ClientFiles(
            cluster,
            user,
            base.with_suffix(".properties"),
            base.with_name(base.name + ".java.properties"),
        )
        head = f"# {cluster} as {user}, written by linklab: it holds a password, keep it 0600.\n"
        for path, conf in (
            (files.librdkafka, client_config(sec, user, bootstrap)),
            (files.java, java_client_config(sec, user, bootstrap)),
        ):
            _write_private(path, head + "".join(f"{k}={v}\n" for k, v in conf.items()))
        out.append(files)
    return out


def link_configs(sec: LabSecurity, mounted_at: str, user: str = LINK) -> dict[str, str]:
    """A cluster link's sign-in to its secured source, as the link's configs (Cluster Linking
    takes the source's client settings in the link's configs; the destination's brokers connect
    with them): `user` over SASL_SSL, trusting the lab CA at `mounted_at` inside the destination
    broker's container. The password goes in the create request only (the broker keeps it as a
    sensitive config); no file is written."""
    conf = java_client_config(sec, user)
    conf["ssl.truststore.location"] = f"{mounted_at.rstrip('/')}/{CA_CERT}"
    return conf


KSQLDB_ENV_FILE = "ksqldb.env"


def write_ksqldb_env(sec: LabSecurity, user: str = ADMIN) -> Path:
    """`<security>/ksqldb.env` (0600): the JAAS line ksqlDB signs in with, for the docker
    runtime's compose `env_file`. The compose file itself holds no password. ksqlDB signs in as
    admin: the ACLs of its internal topics, groups and transactions are out of the lab's scope."""
    jaas = java_client_config(sec, user)["sasl.jaas.config"]
    path = sec.dir / KSQLDB_ENV_FILE
    _write_private(
        path,
        "# ksqlDB's sign-in, written by linklab: it holds a password, keep it 0600.\n"
        f"KSQL_SASL_JAAS_CONFIG='{jaas}'\n",
    )
    return path


def mm2_properties(
    sec: LabSecurity, source: str, destination: str, user: str = LINK
) -> dict[str, str]:
    """MirrorMaker 2 settings for a link between two secured clusters, signing in to both as the
    link's service account. The password is read by Kafka's FileConfigProvider at start."""
    u = sec.user(user)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{u.name}" password="${{file:{sec.secrets_file}:{u.name}.password}}";'
    )
    out = {
        "config.providers": "file",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
    }
    for cluster in (source, destination):
        out |= {
            f"{cluster}.security.protocol": "SASL_SSL",
            f"{cluster}.sasl.mechanism": MECHANISM,
            f"{cluster}.sasl.jaas.config": jaas,
            f"{cluster}.ssl.truststore.type": "PEM",
            f"{cluster}.ssl.truststore.location": str(sec.ca_cert),
        }
    return out
