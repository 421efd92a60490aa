"""apply_acls returns only once the broker enforces the new ACLs: CreateAcls is answered by the
controller before the broker's authorizer has read them (a producer let in by them would be
refused in that moment, and TOPIC_AUTHORIZATION_FAILED is not retried)."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka.admin import AclOperation

from linklab import acls
from linklab.errors import LabError


def _done(value) -> Future:
    f: Future = Future()
    f.set_result(value)
    return f


class LaggingBroker:
    """An AdminClient whose broker lists the ACLs it was given only after `lag` reads."""

    def __init__(self, lag: int):
        self.lag = lag
        self.created: list = []
        self.reads = 0

    def describe_cluster(self, **_kw):
        class Cluster:
            authorized_operations = [AclOperation.ALL]

        return _done(Cluster())

    def create_acls(self, bindings, **_kw):
        self.created.extend(bindings)
        return {b: _done(None) for b in bindings}

    def describe_acls(self, _flt, **_kw):
        self.reads += 1
        return _done(list(self.created) if self.reads > self.lag else [])


@pytest.fixture
def broker(monkeypatch):
    def use(lag: int) -> LaggingBroker:
        fake = LaggingBroker(lag)
        monkeypatch.setattr(acls, "_admin", lambda *_a: fake)
        return fake

    return use


def test_apply_waits_until_the_broker_lists_every_new_acl(broker):
    fake = broker(lag=3)
    wanted = acls.demo_acls("User:sa-demo", ["employees"])
    assert acls.apply_acls("localhost:1", wanted) == len(wanted)
    assert fake.reads == 4


def test_acls_the_broker_never_applies_stop_with_a_lab_error(broker):
    broker(lag=10**9)
    with pytest.raises(LabError, match="apply"):
        acls.apply_acls("localhost:1", acls.demo_acls("User:sa-demo", ["employees"]), timeout=0.5)
