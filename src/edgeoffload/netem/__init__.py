"""Emulated networks between processes on one Linux machine (network namespaces).

Each host of a :class:`Topology` is a network namespace with one address on a private
subnet, joined to a switch namespace by a veth pair whose link is shaped like Wi-Fi:
rate, delay, jitter and loss, and it can be cut and restored while traffic flows. The
kernel's ``tc netem`` does the shaping where it exists; elsewhere a user-space forwarder
(:mod:`edgeoffload.netem.forwarder`) delays and drops frames and ``tc tbf`` limits the
rate. See docs/network-emulation.md for what is emulated and measured figures.

Needs Linux, root and iproute2 (:func:`check_support` says why not). Imports only the
standard library and :mod:`edgeoffload.model`.
"""

from __future__ import annotations

from edgeoffload.netem._commands import NetemError, check_support, netem_available
from edgeoffload.netem.network import (
    EmulatedNetwork,
    cleanup_stale,
    list_topologies,
    remove_all,
    state_root,
)
from edgeoffload.netem.topology import (
    HostSpec,
    LinkSpec,
    Topology,
    camera_cluster_topology,
    load_topology,
    topology_from_dict,
)

__all__ = [
    "EmulatedNetwork",
    "HostSpec",
    "LinkSpec",
    "NetemError",
    "Topology",
    "camera_cluster_topology",
    "check_support",
    "cleanup_stale",
    "list_topologies",
    "load_topology",
    "netem_available",
    "remove_all",
    "state_root",
    "topology_from_dict",
]
