"""``DevicePreset.basis_tag``: the one-word speed basis of the ``presets`` table."""

from __future__ import annotations

import pytest

from edgeoffload.workloads.devices import DEVICE_PRESETS, DevicePreset, device_preset


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("rpi4b", "measured"),
        ("jetson-tx2", "measured"),
        ("jetson-tx2-cpu", "measured"),
        ("edge-server", "estimate"),
        ("nexus7", "Linpack"),
        ("nexus6p", "Linpack"),
        ("i7-6700", "Linpack"),
    ],
)
def test_basis_tag_of_the_shipped_presets(name: str, tag: str) -> None:
    assert device_preset(name).basis_tag == tag


def test_every_preset_is_tagged() -> None:
    assert {p.basis_tag for p in DEVICE_PRESETS.values()} == {"measured", "estimate", "Linpack"}


@pytest.mark.parametrize(
    ("basis", "tag"),
    [
        ("ESTIMATE: scaled from a Linpack run", "estimate"),  # an estimate wins
        ("Linpack (C), one core", "Linpack"),
        ("effective DNN rate", "measured"),
        ("", "measured"),
    ],
)
def test_basis_tag_reads_the_basis(basis: str, tag: str) -> None:
    assert DevicePreset("x", "X", "none", 1e9, basis).basis_tag == tag
