"""Emulated-network fixtures: a small camera cluster of namespaces, torn down after use.

Tests that need namespaces are marked ``@pytest.mark.netns``; on a machine that does not
allow them (not root, no iproute2, no namespace support) they are skipped with the reason.
Every topology is named after this process (``t<pid>``), so a concurrent test run on the
same machine is never touched; topologies left by crashed runs (owner gone) are removed
first.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator

import pytest

from edgeoffload.netem import (
    EmulatedNetwork,
    LinkSpec,
    Topology,
    camera_cluster_topology,
    check_support,
    cleanup_stale,
)

MBIT = 1e6 / 8  # bytes/s per Mbit/s

CLIENT_LINK = LinkSpec(bandwidth=50 * MBIT, delay=0.020)  # the 20 ms, 50 Mbit/s
CAMERA_LINK = LinkSpec(bandwidth=77.6 * MBIT, delay=0.003)  # the wifi-ac preset


@functools.cache
def netns_unavailable() -> str | None:
    """Why emulated networks cannot be built here, or ``None``."""
    return check_support()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("netns") is not None:
            reason = netns_unavailable()
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=f"no emulated network: {reason}"))


def topology_name(suffix: str = "") -> str:
    """A topology name unique to this test process."""
    return f"t{os.getpid()}{suffix}"[:12]


@pytest.fixture(scope="module")
def make_network() -> Iterator[Callable[[Topology], EmulatedNetwork]]:
    """Factory: build a topology (after removing stale ones); all are torn down after
    the module. Skips the test, with the reason, where namespaces are not allowed."""
    built: list[EmulatedNetwork] = []

    def make(topology: Topology) -> EmulatedNetwork:
        reason = netns_unavailable()
        if reason is not None:
            pytest.skip(f"no emulated network: {reason}")
        cleanup_stale()
        net = EmulatedNetwork(topology).up()
        built.append(net)
        return net

    yield make
    for net in reversed(built):
        net.down()


@pytest.fixture(scope="module")
def camera_net(make_network: Callable[[Topology], EmulatedNetwork]) -> EmulatedNetwork:
    """Edge server, three cameras on Wi-Fi and a client behind a 20 ms, 50 Mbit/s link."""
    topology = camera_cluster_topology(
        topology_name(),
        camera_link=CAMERA_LINK,
        client_link=CLIENT_LINK,
        seed=7,
    )
    return make_network(topology)
