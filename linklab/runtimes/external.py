"""The external runtime: two clusters the kit does not start (Confluent Cloud, Confluent
Platform, any reachable Kafka), described under `external:` in a topology file.

Everything but starting and stopping works on them: clients sign in with the API keys (or SASL
users) named there, read from the environment or `.env`; the link goes through the destination's
Admin REST API v3 with basic auth (lab.py pairs it). `up` only checks that both clusters answer
and accept the credentials; `down` leaves the clusters running (lab.py deletes what the kit made).
"""

from __future__ import annotations

import threading
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from linklab import credentials
from linklab.components import ComponentStatus
from linklab.credentials import ApiKey
from linklab.errors import LabError
from linklab.rest import AdminRest
from linklab.runtimes.base import Runtime
from linklab.topology import ExternalClusterSpec, Topology

NOT_OURS = (
    "The kit does not start, stop or signal clusters it did not start: do it in your "
    "provider's console (Confluent Cloud) or on the cluster's hosts."
)
_AUTH_CODES = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)


class ExternalRuntime(Runtime):
    name = "external"
    starts_clusters = False
    timeout = 10.0  # seconds a cluster may take to answer a check (a cloud is far away)

    def __init__(self, topology: Topology, state_dir: Path, env_file: Path | None = None):
        super().__init__(topology, state_dir)
        if topology.external is None:
            raise LabError(
                "--runtime external needs a topology with an external: section naming the two "
                "existing clusters.",
                "Copy topology.external.example.yaml, fill it in, and pass "
                "--topology YOUR_FILE (credentials go in .env, by variable name).",
            )
        self.env_file = env_file or Path(topology.external.env_file).resolve()
        self._values: dict[str, str] | None = None

    # -- where and who --------------------------------------------------------------------------
    def spec(self, cluster: str) -> ExternalClusterSpec:
        return self.topology.external_cluster(cluster)

    def _env(self) -> dict[str, str]:
        if self._values is None:
            self._values = credentials.read_env(self.env_file)
        return self._values

    def api_key(self, cluster: str) -> ApiKey | None:
        """The Kafka API key (SASL user) of `cluster`; None where it signs in without SASL."""
        s = self.spec(cluster)
        if not s.security_protocol.startswith("SASL_"):
            return None
        return credentials.api_key(self._env(), s.key_env, s.secret_env, cluster, self.env_file)

    def rest_key(self, cluster: str) -> ApiKey:
        """The Admin REST API's key of `cluster` (its own variables, else the Kafka key's)."""
        s = self.spec(cluster)
        key_env = s.rest_key_env or s.key_env
        secret_env = s.rest_secret_env or s.secret_env
        return credentials.api_key(self._env(), key_env, secret_env, cluster, self.env_file)

    def bootstrap(self, cluster: str) -> str:
        return self.spec(cluster).bootstrap

    def client_config(self, cluster: str, user: str | None = None) -> dict[str, str]:
        """librdkafka settings signing in with the cluster's configured key (`user` is the
        native lab's notion: here each cluster has the one key the topology names)."""
        s = self.spec(cluster)
        conf = {"bootstrap.servers": s.bootstrap, "security.protocol": s.security_protocol}
        key = self.api_key(cluster)
        if key is not None:
            conf["sasl.mechanisms"] = s.sasl_mechanism
            conf["sasl.username"] = key.key
            conf["sasl.password"] = key.secret.reveal()  # in memory, for librdkafka only
        if s.ca_file and s.security_protocol in ("SSL", "SASL_SSL"):
            conf["ssl.ca.location"] = str(Path(s.ca_file).expanduser())
        return conf

    def rest(self, cluster: str) -> AdminRest:
        """`cluster`'s Admin REST API v3, signed in with basic auth (API key and secret).
        Confluent Cloud and Confluent Platform both serve it under `/kafka/v3/...`."""
        s = self.spec(cluster)
        if s.rest_endpoint is None:
            raise LabError(
                f"{cluster} has no rest_endpoint in external:.",
                "Set it to the cluster's REST endpoint (Confluent Cloud: Cluster settings).",
            )
        key = self.rest_key(cluster)
        base = s.rest_endpoint.rstrip("/")
        if not base.endswith("/kafka"):
            base += "/kafka"
        ca = str(Path(s.ca_file).expanduser()) if s.ca_file else None
        return AdminRest(base, auth=(key.key, key.secret), ca_file=ca)

    def rest_auth_fix(self, cluster: str) -> str:
        s = self.spec(cluster)
        names = f"{s.rest_key_env or s.key_env} and {s.rest_secret_env or s.secret_env}"
        return (
            f"Set {names} (in {self.env_file} or the environment) to an API key and secret of "
            f"{cluster} ({s.cluster_id}) that may manage cluster links: Confluent Cloud > "
            "Cluster > API keys. A key of another cluster, or a deleted one, is refused."
        )

    def link_source_security(self) -> dict[str, str]:
        """The source's sign-in, as the link's configs (the destination connects with them).
        Confluent: link creation needs the source's security configs in its `configs`."""
        return self.link_security(self.topology.link.source)

    def link_security(self, cluster: str) -> dict[str, str]:
        """`cluster`'s sign-in as a link's configs: the source's for the destination's half,
        the destination's for a half on the source (docs/hybrid.md); with `local.` before each
        key, a half's sign-in to its own cluster."""
        s = self.spec(cluster)
        key = self.api_key(cluster)
        out = {"security.protocol": s.security_protocol}
        if s.ca_file and s.security_protocol in ("SSL", "SASL_SSL"):
            # A private CA: the destination's brokers open the link's connections and cannot
            # read a file on this machine, so the CA goes in the link's configs inline (PEM
            # trust store, Kafka's KIP-651).
            out["ssl.truststore.type"] = "PEM"
            out["ssl.truststore.certificates"] = Path(s.ca_file).expanduser().read_text().strip()
        if key is None:
            return out
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if s.sasl_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        return out | {
            "sasl.mechanism": s.sasl_mechanism,
            "sasl.jaas.config": f'{module} required username="{key.key}" '
            f'password="{key.secret.reveal()}";',
        }

    # -- checks ---------------------------------------------------------------------------------
    def probe(self, cluster: str, timeout: float | None = None) -> LabError | None:
        """Why `cluster` cannot be used (credentials missing, TLS refused, sign-in refused,
        nothing answers), or None when it answers a metadata request as the configured key."""
        s = self.spec(cluster)
        try:
            conf = self.client_config(cluster)
        except LabError as e:
            return e
        if s.ca_file and s.security_protocol in ("SSL", "SASL_SSL"):
            problem = _tls_problem(cluster, s)
            if problem is not None:
                return problem
        errors: list[KafkaError] = []
        lock = threading.Lock()

        def on_error(err: KafkaError) -> None:
            with lock:
                errors.append(err)

        client = AdminClient({**conf, "log_level": 0, "error_cb": on_error})
        try:
            client.list_topics(timeout=timeout or self.timeout)
            return None
        except KafkaException as e:
            if e.args and isinstance(e.args[0], KafkaError):
                errors.append(e.args[0])
        client.poll(1.0)  # librdkafka hands a refused sign-in to error_cb only when polled
        auth = next((e for e in errors if e.code() in _AUTH_CODES), None)
        if auth is not None:
            key = self.api_key(cluster)
            names = key.names if key else f"{s.key_env} and {s.secret_env}"
            return LabError(
                f"{cluster} ({s.bootstrap}) refused the credentials: {auth.str()}",
                f"Check {names} (in {self.env_file} or the environment): the key must belong "
                f"to this cluster and be active, its secret current (a rotated secret is "
                f"refused); mechanism {s.sasl_mechanism}.",
            )
        detail = errors[-1].str() if errors else "no answer"
        return LabError(
            f"{cluster} does not answer on {s.bootstrap}: {detail}",
            "Check bootstrap and security_protocol under external: in the topology file, and "
            "that this machine reaches the cluster (firewall, private networking).",
        )

    def preflight(self) -> None:
        for c in self.topology.clusters:
            problem = self.probe(c.name)
            if problem is not None:
                raise problem
        self.check_rest()

    def check_rest(self) -> None:
        """The destination's Admin REST API answers and accepts its key (listing its links,
        which the link needs anyway), before the kit creates anything."""
        from linklab.rest import RestError

        dest = self.topology.link.destination
        s = self.spec(dest)
        api = self.rest(dest)
        try:
            api.get(f"clusters/{s.cluster_id}/links")
        except RestError as e:
            if e.status in (401, 403):
                raise LabError(
                    f"The Admin REST API of {dest} at {api.base_url} refused the credentials "
                    f"(HTTP {e.status}: {e.message}).",
                    self.rest_auth_fix(dest),
                ) from None
            if e.status == 0:
                raise LabError(
                    f"The Admin REST API of {dest} at {api.base_url} does not answer "
                    f"({e.message}).",
                    "Check rest_endpoint under external: (Confluent Cloud: Cluster settings > "
                    "REST endpoint) and that this machine reaches it.",
                ) from None
            raise LabError(
                f"The Admin REST API of {dest} answered HTTP {e.status}: {e.message}.",
                f"Check cluster_id of {dest} under external: ({s.cluster_id}): it must be the "
                "id the REST API uses (Confluent Cloud: lkc-...).",
            ) from None

    def up(self) -> None:
        """Start nothing: check that both clusters answer and accept the credentials."""
        self.preflight()

    def down(self) -> list[tuple[str, str]]:
        return [(c.name, "left running: not started by the kit") for c in self.topology.clusters]

    def status(self) -> list[ComponentStatus]:
        out = []
        for c in self.topology.clusters:
            s = self.spec(c.name)
            problem = self.probe(c.name)
            out.append(
                ComponentStatus(
                    name=c.name,
                    kind=f"existing cluster {s.cluster_id} (external)",
                    address=s.bootstrap + (f", {s.rest_endpoint}" if s.rest_endpoint else ""),
                    state="running" if problem is None else "unreachable",
                )
            )
        return out

    def logs(self, component: str) -> Path:
        raise LabError(
            f"The kit keeps no log of {component}: it does not run it.",
            "Read the cluster's logs and metrics in your provider's console.",
        )

    def unsupported(self, what: str) -> LabError:
        return LabError(f"The external runtime cannot {what}.", NOT_OURS)

    def require(self, *operations: str, purpose: str) -> None:
        if any(getattr(type(self), op) is getattr(Runtime, op) for op in operations):
            raise LabError(f"{purpose}, which the external runtime cannot do.", NOT_OURS)


def _tls_problem(cluster: str, s: ExternalClusterSpec) -> LabError | None:
    """TLS to the first bootstrap address with `ca_file`: the error, with a fix about
    ca_file (not the native lab's CA)."""
    from linklab import security

    ca = Path(s.ca_file).expanduser()
    if not ca.is_file():
        return LabError(
            f"The CA file {ca} of {cluster} does not exist.",
            "Set ca_file under external: to the PEM file of the CA that signed the cluster's "
            "certificate, or remove ca_file to trust the system's CAs (Confluent Cloud).",
        )
    problem = security.probe_tls(s.bootstrap, ca)
    if problem is None:
        return None
    if "expired" in problem.problem:
        fix = (
            f"The certificate {cluster} presents (or its CA) has expired: renew it on the "
            f"cluster, or point ca_file at the current CA ({ca} is what is used now)."
        )
    elif "Nothing answers" in problem.problem:
        fix = f"Check bootstrap of {cluster} under external:, and that the cluster is up."
    else:
        fix = (
            f"{cluster}'s certificate is not signed by the CA in {ca}: set ca_file to the CA "
            "that signed it, or remove ca_file to trust the system's CAs (Confluent Cloud)."
        )
    return LabError(f"{cluster}: {problem.problem}", fix)
