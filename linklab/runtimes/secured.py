"""What a runtime that starts its own clusters does for `security: sasl_ssl`, the same on the
native and the docker runtime: make the lab's CA, certificates, passwords and client files in
the lab folder, hand out client settings, and grant each principal its ACLs once the brokers
answer. The brokers' own settings are each runtime's (render.py)."""

from __future__ import annotations

from pathlib import Path

from linklab import acls, render, security

CLIENTS_DIR = "clients"  # <lab>/clients/<cluster>-<user>.properties (and .java.properties)


class SecuredLab:
    """Mixed into a Runtime (it has `topology`, `state_dir` and `bootstrap`)."""

    topology: object
    state_dir: Path

    def security(self) -> security.LabSecurity | None:
        """The lab's CA, certificates and users when the topology is secured, else None."""
        return security.load(self.state_dir) if self.topology.secured else None

    def client_config(self, cluster: str, user: str | None = None) -> dict[str, str]:
        sec = self.security()
        if sec is None:
            return super().client_config(cluster, user)
        return security.client_config(sec, user or security.ADMIN, self.bootstrap(cluster))

    def client_files(self) -> dict[str, list[security.ClientFiles]]:
        """Each cluster's client config files (empty for a plain lab)."""
        if not self.topology.secured:
            return {}
        base = self.state_dir / CLIENTS_DIR
        return {
            c.name: [
                security.ClientFiles(
                    c.name,
                    u,
                    base / f"{c.name}-{u}.properties",
                    base / f"{c.name}-{u}.java.properties",
                )
                for u in (security.DEMO, security.ADMIN)
            ]
            for c in self.topology.clusters
        }

    def secure(self) -> security.LabSecurity | None:
        """Make (once) the CA, certificates, passwords and client files of a secured lab."""
        if not self.topology.secured:
            return None
        names = [c.name for c in self.topology.clusters]
        # One certificate per cluster serves all its brokers (security.make_broker_cert): on
        # 127.0.0.1 natively, and by their compose host names in the docker runtime.
        sec = security.ensure(self.state_dir, names, hosts=render.certificate_hosts(self.topology))
        security.check_certificates(sec, names)
        for name in names:
            security.write_client_files(
                sec, name, self.bootstrap(name), out_dir=self.state_dir / CLIENTS_DIR
            )
        return sec

    def grant_mirror(self, topic: str) -> None:
        """The link's principal may read `topic` on the source and write its mirror: for a
        mirror created after `up` (`mirror.create`, a latency run's topic)."""
        self._change_acls(self._mirror_acls(topic), acls.apply_acls)

    def revoke_mirror(self, topic: str) -> None:
        """Take back what grant_mirror gave, once the mirror is deleted."""
        self._change_acls(self._mirror_acls(topic), acls.remove_acls)

    def grant_reverse(self, topics: list[str]) -> int:
        """The link's principal may also copy `topics` from the destination back to the source
        (the drill's failback): its ACLs with the two clusters swapped. They stay until `down`:
        taking them back could take what the forward link needs too."""
        link = self.topology.link
        back = acls.mirrormaker_acls(f"User:{security.LINK}", topics, link.destination, link.source)
        return self._change_acls(back.by_cluster(link.destination, link.source))

    def _mirror_acls(self, topic: str) -> dict[str, list[acls.Acl]]:
        link = self.topology.link
        one = acls.mirror_acls(f"User:{security.LINK}", topic)
        return one.by_cluster(link.source, link.destination)

    def _change_acls(self, by_cluster: dict[str, list[acls.Acl]], change=acls.apply_acls) -> int:
        """Apply (or, with acls.remove_acls, delete) ACLs on each cluster, as admin."""
        return sum(
            change(self.bootstrap(name), rules, self.client_config(name))
            for name, rules in by_cluster.items()
        )

    def apply_acls(self) -> int:
        """Grant each principal of a secured lab its ACLs, as admin; return how many."""
        t = self.topology
        wanted = acls.lab_acls(
            [tp.name for tp in t.topics],
            t.link.mirrors,
            t.link.source,
            t.link.destination,
            f"User:{security.DEMO}",
            f"User:{security.LINK}",
            acl_sync=t.link.acl_sync,
        )
        return self._change_acls(wanted)
