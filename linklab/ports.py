"""The port plan of a multi-broker cluster, shared by the topology and the network path.

Broker i (0-based) of a cluster listens on its cluster's ports + BROKER_PORT_STEP * i (9092,
9102, 9112, ... for the primary; 9192, 9202, ... for the secondary), and so do its JMX exporter
and, on the link's source, its LINK listener and the proxy in front of it. Five brokers of one
cluster stay below the other's base ports (100 apart), and every fixed port of the default
topology ends in a digit no broker port of another kind uses.
"""

MAX_BROKERS = 5
BROKER_PORT_STEP = 10


def broker_port(base: int, index: int) -> int:
    """Port `base` of a cluster (or of the link's path), as broker `index` gets it."""
    return base + BROKER_PORT_STEP * index
