"""Device and link presets with sourced figures: the DHS and COFA papers' hardware.

Every number a preset carries has a citation in its ``sources`` mapping (one short string
per field; the full references are in :data:`REFERENCES` and docs/workloads.md). Numbers
that are derived say how; numbers that are estimates say so and why.

Conventions
-----------
- **Speeds are effective, not peak.** For the DNN devices a speed is model FLOP divided by
  a measured batch-1 inference latency: ``2 × Σ MACs / Σ latency`` over the AlexNet,
  GoogLeNet and ResNet-50 variants the benchmark ran (BVLC AlexNet at 227×227, 0.7244
  GMACs; BVLC GoogLeNet with 5×5 convolutions, 1.5827 GMACs; ResNet-50 v1, 3.8580 GMACs;
  counted by ``tools/dnn_dags/extract.py --variants``). So a shipped DNN graph runs on a
  preset in about the measured time. Runtimes that use Winograd convolution (ncnn) can
  exceed the true arithmetic rate. For the COFA devices the speed is the paper's own
  Linpack result (Java, MFLOPS), the only figure the paper gives.
- **One task at a time.** ``cores`` is 1: each speed was measured with one inference
  (or one Linpack run) using the device as a whole, and the busy power belongs to that
  state. Pass ``cores=`` to :meth:`DevicePreset.to_node` to model more.
- **Power** is :class:`~edgeoffload.model.PowerProfile` in watts: ``idle`` (on, no task),
  ``busy`` (running a task) and ``transmit`` (sending, otherwise idle).
- Links give the throughput an application sees (iperf3 TCP goodput), bytes/s, and a
  per-message latency, seconds (half a measured round-trip time).

Presets
-------
Devices: ``rpi4b``, ``jetson-tx2``, ``jetson-tx2-cpu``, ``edge-server`` (the DHS paper's
cluster) and ``nexus7``, ``nexus6p``, ``i7-6700`` (the COFA paper's devices). Links:
``wifi-n``, ``wifi-ac``, ``ethernet``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model import Link, Node, NodeId, PowerProfile, Role
from edgeoffload.workloads.dnn import DNN_KINDS

__all__ = [
    "BENCHMARK_MACS",
    "DEVICE_PRESETS",
    "LINK_PRESETS",
    "REFERENCES",
    "DevicePreset",
    "LinkPreset",
    "device_preset",
    "device_preset_names",
    "effective_speed",
    "link_preset",
    "link_preset_names",
    "presets_to_dict",
]

GIB = 1024**3  # bytes
MBIT = 1e6 / 8  # bytes/s per Mbit/s (iperf3 reports decimal megabits)

BENCHMARK_MACS: Mapping[str, int] = types.MappingProxyType(
    {
        "bvlc_alexnet": 724_406_816,
        "bvlc_googlenet": 1_582_671_872,
        "resnet50_v1": 3_857_973_248,
    }
)
"""Conv + linear MACs of the network variants the cited latencies were measured on
(computed by ``tools/dnn_dags/extract.py --variants``)."""

REFERENCES: Mapping[str, str] = types.MappingProxyType(
    {
        "S1": "Tencent/ncnn benchmark/README.md (benchncnn, FP32): sections 'Raspberry Pi 4 "
        "Model B ... (1.8GHz x 4)', 'NVIDIA Jetson TX2 NX', 'Hyper-V Linux Guest ... Intel "
        "Core i7-7700K'. https://github.com/Tencent/ncnn/blob/master/benchmark/README.md",
        "S2": "JK Jung, 'Measuring Caffe Model Inference Speed on Jetson TX2', 2018-02-27. "
        "https://jkjung-avt.github.io/caffe-time/",
        "S4": "NVIDIA DRIVE Linux SDK Dev Guide 5.0.10.3, 'MaxQ/MaxP Power Profiles' (Parker "
        "SoC: Max-Q 7.5 W, Max-P 15 W).",
        "S5": "NVIDIA Developer Forums, 'REG: power rating of TX2' (module 7.5 W Max-Q / "
        "15 W Max-P). https://forums.developer.nvidia.com/t/reg-power-rating-of-tx2/59389",
        "S6": "Hugging Face hardware page 'Jetson TX2' (8 GB). "
        "https://huggingface.co/hardware/jetson-tx2",
        "S9": "geerlingguy/sbc-reviews issue #4 'Raspberry Pi 4 model B' (rev 1.4, 1.8 GHz, "
        "wall power). https://github.com/geerlingguy/sbc-reviews/issues/4",
        "S12": "raspberrypi/linux issue #4390 'RPi4: Wireless 802.11ac 5GHz performance' "
        "(iperf3). https://github.com/raspberrypi/linux/issues/4390",
        "S14": "fairscope/PlanktoScope PR #865 'os: Use Wi-Fi 5GHz for AP' (iperf3 at 2.4 "
        "and 5 GHz, CYW43455 radio). https://github.com/fairscope/PlanktoScope/pull/865",
        "S15": "raspberrypi/linux issue #7533 (Wi-Fi RTT percentiles with power save on and "
        "off). https://github.com/raspberrypi/linux/issues/7533",
        "S16": "ssaraff98/tegrastats_parser sample_tegrastats_log.txt (TX2 idle VDD_IN "
        "1649 mW). https://github.com/ssaraff98/tegrastats_parser",
        "S17": "TerryTsao gist 'Jetson TX2 Mobilenet_v2_quant profile' (tegrastats, 6 CPUs "
        "at 2.0 GHz busy: VDD_IN about 7.4 W). "
        "https://gist.github.com/TerryTsao/fa30ba54e660c51d5c91aafb55715d89",
        "DHS": "The DHS paper (seeds 000_a0b609be88fe3c4e): 1 Raspberry Pi 4B, 3 Jetson TX2, "
        "an edge server with a 3.6 GHz CPU and 24 GB RAM.",
        "COFA": "The COFA paper, J. KIIT 15(11), 2017, pp. 165-173: Nexus 7 (4x1.2 GHz A9, "
        "1 GB), Nexus 6P, i7-6700 3.4 GHz 16 GB server; Linpack 106.1 / 298.5 / 2719.6 "
        "MFLOPS.",
        "AOSP-grouper": "Nexus 7 (2012) power_profile.xml, CyanogenMod/"
        "android_device_asus_grouper overlay/frameworks/base/core/res/res/xml/"
        "power_profile.xml (mA: cpu.idle 3.8, cpu.awake 54.6, cpu.active 160 at 1.2 GHz "
        "marked '!ESTIMATES!', wifi.active 31.0).",
        "AOSP-angler": "Nexus 6P power_profile.xml, LineageOS/android_device_huawei_angler "
        "overlay/frameworks/base/core/res/res/xml/power_profile.xml (mA: cpu.idle 0.1449, "
        "cpu.awake 9.488, cpu.active 379.97 at every frequency, wifi.active 98.05).",
        "pcper-N7": "PC Perspective, Google Nexus 7 review (2012): 16 Wh battery; with "
        "4325 mAh (power_profile) that is 3.70 V nominal.",
        "techspot-6P": "TechSpot, Google Nexus 6P review p.5: 13.28 Wh, 3450 mAh at 3.85 V; "
        "p.3: 3 GB RAM. https://www.techspot.com/review/1109-google-nexus-6p/",
        "pcper-6700K": "PC Perspective, 'The Intel Core i7-6700K Review - Skylake First for "
        "Enthusiasts' (2015), p.10: Z170 system at the wall, idle 58 W, full load "
        "143.8 W.",
        "cpuz-6700": "CPU-Z report of an i7-6700 @ 3.40GHz (pastebin.com/ReVH4w1C): 4 cores, "
        "8 threads, TDP limit 65 W.",
        "ethernet-iperf": "yrzr/opnsense-tools issue #9: Raspberry Pi 4 on gigabit Ethernet, "
        "iperf3 939 Mbit/s.",
        "lan-ping": "simplified.guide 'Check network latency in Linux': wired-LAN ping to the "
        "gateway, rtt min 0.285 ms.",
    }
)
"""Full references of the short keys used in the presets' ``sources``."""


def effective_speed(macs: Sequence[float], seconds: Sequence[float]) -> float:
    """Effective rate ``2 × Σ macs / Σ seconds``, FLOP/s.

    Parameters
    ----------
    macs
        Multiply-accumulates of each benchmarked network.
    seconds
        Measured batch-1 latency of each, seconds, in the same order.

    Examples
    --------
    >>> effective_speed([1e9, 3e9], [0.1, 0.3])
    20000000000.0
    """
    if len(macs) != len(seconds) or not macs:
        raise ModelError("needs one latency per network", "effective_speed")
    return 2.0 * float(sum(macs)) / float(sum(seconds))


def _battery_watts(milliamps: float, volts: float) -> float:
    """Battery current (mA, Android power_profile units) at nominal voltage, watts."""
    return milliamps / 1000.0 * volts


_BENCH = (
    BENCHMARK_MACS["bvlc_alexnet"],
    BENCHMARK_MACS["bvlc_googlenet"],
    BENCHMARK_MACS["resnet50_v1"],
)


@dataclass(frozen=True, slots=True)
class DevicePreset:
    """A device model with sourced figures, turned into a :class:`Node` by :meth:`to_node`.

    Parameters
    ----------
    name
        Preset name, e.g. ``"rpi4b"``.
    title
        Human-readable name of the device.
    hardware
        What the figures describe (cores, clocks, memory, runtime).
    speed
        Rate of one task, FLOP/s (see :attr:`speed_basis`).
    speed_basis
        What ``speed`` is: an effective DNN rate, a Linpack result, or an estimate.
    speed_by_kind
        Rates for particular task kinds, FLOP/s (a GPU's DNN layers).
    cores
        Tasks run at once (1: each figure describes one task using the whole device).
    memory
        Memory, bytes; ``None`` when unknown.
    power
        Power draw in watts when idle, busy and transmitting; ``None`` when unknown.
    role
        Default role of nodes made from this preset.
    sources
        Citation of every numeric field: keys ``speed``, ``speed_by_kind``, ``cores``,
        ``memory``, ``power.idle``, ``power.busy``, ``power.transmit``.
    """

    name: str
    title: str
    hardware: str
    speed: float
    speed_basis: str
    speed_by_kind: Mapping[str, float] = field(default_factory=dict)
    cores: int = 1
    memory: float | None = None
    power: PowerProfile | None = None
    role: Role = "device"
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "speed_by_kind", types.MappingProxyType(dict(self.speed_by_kind)))
        object.__setattr__(self, "sources", types.MappingProxyType(dict(self.sources)))

    def to_node(
        self,
        node_id: NodeId,
        *,
        role: Role | None = None,
        cores: int | None = None,
        available_from: float = 0.0,
    ) -> Node:
        """A :class:`Node` named ``node_id`` with this preset's figures.

        Parameters
        ----------
        node_id
            Id of the node.
        role
            ``"camera"``, ``"edge"`` or ``"device"``; default: the preset's :attr:`role`.
        cores
            Tasks the node runs at once; default: the preset's :attr:`cores`.
        available_from
            The node is busy until then, seconds (default 0).

        Examples
        --------
        >>> node = device_preset("jetson-tx2").to_node("cam2", role="camera")
        >>> node.speed_for("conv") > node.speed_for(None)
        True
        """
        return Node(
            node_id,
            self.speed,
            dict(self.speed_by_kind),
            role=self.role if role is None else role,
            cores=self.cores if cores is None else cores,
            memory=self.memory,
            power=self.power,
            available_from=available_from,
        )

    @property
    def basis_tag(self) -> str:
        """A one-word form of :attr:`speed_basis`: ``"estimate"`` (the basis says
        ``ESTIMATE``), ``"Linpack"`` (a Linpack result) or ``"measured"`` (an effective
        rate from measured latencies).

        Examples
        --------
        >>> device_preset("rpi4b").basis_tag, device_preset("nexus7").basis_tag
        ('measured', 'Linpack')
        """
        if "ESTIMATE" in self.speed_basis:
            return "estimate"
        if "Linpack" in self.speed_basis:
            return "Linpack"
        return "measured"

    def numeric_fields(self) -> dict[str, float]:
        """Every number this preset carries, by the key its source is filed under."""
        out: dict[str, float] = {"speed": self.speed, "cores": float(self.cores)}
        for kind, rate in self.speed_by_kind.items():
            out[f"speed_by_kind.{kind}"] = rate
        if self.memory is not None:
            out["memory"] = self.memory
        if self.power is not None:
            out["power.idle"] = self.power.idle
            out["power.busy"] = self.power.busy
            out["power.transmit"] = self.power.transmit
        return out

    def source_of(self, key: str) -> str:
        """The citation of numeric field ``key`` (``speed_by_kind.conv`` → ``speed_by_kind``)."""
        return self.sources.get(key) or self.sources.get(key.split(".")[0], "")

    def to_dict(self) -> dict[str, Any]:
        """This preset as a JSON-ready dict (what ``edgeoffload presets NAME --json`` prints).

        Returns
        -------
        dict
            A new dict with, in this order:

            ``name``, ``title``, ``hardware``, ``role``
                Strings, as the fields of the same names.
            ``speed``
                Rate of one task, FLOP/s.
            ``speed_basis``
                What ``speed`` is (effective DNN rate, Linpack result or estimate).
            ``speed_by_kind``
                Task kind → rate, FLOP/s (empty when every kind runs at ``speed``).
            ``cores``
                Tasks run at once (int).
            ``memory``
                Memory, bytes, or ``None`` when unknown.
            ``power``
                ``{"idle": W, "busy": W, "transmit": W}``, watts, or ``None`` when unknown.
            ``sources``
                Numeric field → citation (keys as in :attr:`sources`).

        Examples
        --------
        >>> d = device_preset("rpi4b").to_dict()
        >>> d["role"], d["cores"], d["power"]
        ('camera', 1, {'idle': 1.6, 'busy': 7.2, 'transmit': 1.6})
        """
        return {
            "name": self.name,
            "title": self.title,
            "hardware": self.hardware,
            "role": self.role,
            "speed": self.speed,
            "speed_basis": self.speed_basis,
            "speed_by_kind": dict(self.speed_by_kind),
            "cores": self.cores,
            "memory": self.memory,
            "power": (
                None
                if self.power is None
                else {
                    "idle": self.power.idle,
                    "busy": self.power.busy,
                    "transmit": self.power.transmit,
                }
            ),
            "sources": dict(self.sources),
        }


@dataclass(frozen=True, slots=True)
class LinkPreset:
    """A network link model with sourced figures, turned into a :class:`Link` by :meth:`to_link`.

    Parameters
    ----------
    name
        Preset name, e.g. ``"wifi-ac"``.
    title
        Human-readable description.
    bandwidth
        Application-level throughput, bytes/s.
    latency
        Per-message latency, seconds.
    sources
        Citation of ``bandwidth`` and ``latency``.
    """

    name: str
    title: str
    bandwidth: float
    latency: float
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", types.MappingProxyType(dict(self.sources)))

    def to_link(self) -> Link:
        """The :class:`Link` with this preset's bandwidth and latency.

        Examples
        --------
        >>> link_preset("ethernet").to_link().bandwidth > link_preset("wifi-ac").bandwidth
        True
        """
        return Link(self.bandwidth, self.latency)

    def numeric_fields(self) -> dict[str, float]:
        """Every number this preset carries, by the key its source is filed under."""
        return {"bandwidth": self.bandwidth, "latency": self.latency}

    def to_dict(self) -> dict[str, Any]:
        """This preset as a JSON-ready dict (what ``edgeoffload presets NAME --json`` prints).

        Returns
        -------
        dict
            A new dict with, in this order:

            ``name``, ``title``
                Strings, as the fields of the same names.
            ``bandwidth``
                Application-level throughput, bytes/s.
            ``latency``
                Per-message latency, seconds.
            ``sources``
                ``{"bandwidth": citation, "latency": citation}``.

        Examples
        --------
        >>> d = link_preset("ethernet").to_dict()
        >>> d["bandwidth"], d["latency"]
        (117375000.0, 0.0001425)
        """
        return {
            "name": self.name,
            "title": self.title,
            "bandwidth": self.bandwidth,
            "latency": self.latency,
            "sources": dict(self.sources),
        }


# --------------------------------------------------------------------------------------------
# the DHS paper's cluster
# --------------------------------------------------------------------------------------------
_NOT_MEASURED_TX = (
    "ESTIMATE: no measured draw while transmitting was found; set equal to idle (the radio's "
    "or NIC's own draw is not included)"
)
_ONE_TASK = "modelling choice: speed and busy power describe one task using the whole device"

_RPI_SPEED = effective_speed(_BENCH, (0.0764, 0.1144, 0.2628))
_TX2_GPU_SPEED = effective_speed(_BENCH, (0.0129, 0.0246, 0.0641))
_TX2_CPU_SPEED = effective_speed(_BENCH, (0.0527, 0.0709, 0.3166))
_I7_7700K_CORE = effective_speed(_BENCH, (0.0232, 0.0396, 0.0759))
_EDGE_SPEED = _I7_7700K_CORE / 4.5 * 3.6 * 4  # per clock at 4.5 GHz turbo -> 4 cores at 3.6

_DESKTOP_POWER = PowerProfile(idle=58.0, busy=143.8, transmit=58.0)
_DESKTOP_POWER_SOURCES = {
    "power.idle": "[pcper-6700K] Skylake i7-6700K desktop at the wall, idle 58 W (same "
    "platform generation; the paper gives no power figures)",
    "power.busy": "[pcper-6700K] same system under full CPU load, 143.8 W (an upper bound for "
    "a 65 W-TDP part)",
    "power.transmit": _NOT_MEASURED_TX,
}

_RPI4B = DevicePreset(
    name="rpi4b",
    title="Raspberry Pi 4 Model B",
    hardware="4x Cortex-A72 @ 1.8 GHz (rev 1.4), 4 GB; ncnn FP32 on 4 threads",
    speed=_RPI_SPEED,
    speed_basis="effective DNN rate, ncnn FP32 CPU, 4 threads",
    memory=4 * GIB,
    power=PowerProfile(idle=1.6, busy=7.2, transmit=1.6),
    role="camera",
    sources={
        "speed": "[S1] ncnn FP32, 4 threads, 1.8 GHz: AlexNet 76.4 / GoogLeNet 114.4 / "
        "ResNet-50 262.8 ms; effective = 2 x 6.1651 GMAC / 0.4536 s = 27.2 GFLOP/s. A "
        "1.5 GHz board is about 1.2x slower",
        "cores": _ONE_TASK + " (the latency is a 4-thread run)",
        "memory": "ASSUMED 4 GB variant: the board ships with 1, 2, 4 or 8 GB and the DHS "
        "paper does not say",
        "power.idle": "[S9] idle at the wall, 1.8 GHz: 1.6 W",
        "power.busy": "[S9] HPL on 4 cores (dense FP like conv inference): 7.2 W; "
        "stress-ng gives 5.0 W",
        "power.transmit": _NOT_MEASURED_TX,
    },
)

_TX2_GPU = DevicePreset(
    name="jetson-tx2",
    title="NVIDIA Jetson TX2 (GPU)",
    hardware="256-core Pascal GPU @ 1.30 GHz (Max-N) + 2x Denver2 / 4x A57 @ 2.0 GHz, 8 GB; "
    "DNN layers on the GPU (Caffe/cuDNN FP32), other tasks on the CPU",
    speed=_TX2_CPU_SPEED,
    speed_basis="DNN kinds: effective GPU rate, Caffe FP32; other tasks: CPU rate (ncnn)",
    speed_by_kind=dict.fromkeys(DNN_KINDS, _TX2_GPU_SPEED),
    memory=8 * GIB,
    power=PowerProfile(idle=1.65, busy=15.0, transmit=1.65),
    role="camera",
    sources={
        "speed": "tasks without a DNN kind run on the CPU: same figure as jetson-tx2-cpu "
        "([S1] ncnn 6 threads, 28.0 GFLOP/s)",
        "speed_by_kind": "[S2] Caffe FP32 on the GPU, Max-N + jetson_clocks: AlexNet 12.9 / "
        "GoogLeNet 24.6 / ResNet-50 64.1 ms; effective = 2 x 6.1651 GMAC / 0.1016 s = "
        "121.4 GFLOP/s (peak 665.6), applied to every DNN layer kind",
        "cores": _ONE_TASK + " (one CUDA stream)",
        "memory": "[S6] 8 GB LPDDR4",
        "power.idle": "[S16] module VDD_IN at idle: 1.65 W (carrier board excluded)",
        "power.busy": "[S4][S5] Max-P module budget 15 W: a BUDGET, not a measurement (none "
        "was found for GPU DNN load; Max-N, where the latencies were taken, may exceed it)",
        "power.transmit": _NOT_MEASURED_TX,
    },
)

_TX2_CPU = DevicePreset(
    name="jetson-tx2-cpu",
    title="NVIDIA Jetson TX2 (CPU only)",
    hardware="2x Denver2 + 4x Cortex-A57 @ 2.0 GHz, 8 GB; ncnn FP32 on 6 threads",
    speed=_TX2_CPU_SPEED,
    speed_basis="effective DNN rate, ncnn FP32 CPU, 6 threads (TX2 NX)",
    memory=8 * GIB,
    power=PowerProfile(idle=1.65, busy=7.4, transmit=1.65),
    role="camera",
    sources={
        "speed": "[S1] ncnn FP32 CPU, TX2 NX (same Parker SoC), 6 threads: AlexNet 52.7 / "
        "GoogLeNet 70.9 / ResNet-50 316.6 ms; effective = 2 x 6.1651 GMAC / 0.4402 s = "
        "28.0 GFLOP/s",
        "cores": _ONE_TASK + " (the latency is a 6-thread run)",
        "memory": "[S6] 8 GB LPDDR4",
        "power.idle": "[S16] module VDD_IN at idle: 1.65 W",
        "power.busy": "[S17] module VDD_IN with 6 CPUs at 2.0 GHz, 60-90% busy: 7.4 W",
        "power.transmit": _NOT_MEASURED_TX,
    },
)

_EDGE = DevicePreset(
    name="edge-server",
    title="DHS edge server (3.6 GHz, 24 GB)",
    hardware="ASSUMED 4-core Kaby Lake desktop at 3.6 GHz (i7-7700 class), 24 GB; the paper "
    "gives only the clock and the memory",
    speed=_EDGE_SPEED,
    speed_basis="ESTIMATE: measured single-core DNN rate scaled to 4 cores at 3.6 GHz",
    memory=24 * GIB,
    power=_DESKTOP_POWER,
    role="edge",
    sources={
        "speed": "ESTIMATE from [S1] i7-7700K, 1 thread (ncnn FP32 in a Hyper-V guest): "
        "AlexNet 23.2 / GoogLeNet 39.6 / ResNet-50 75.9 ms = 88.9 GFLOP/s per core; / 4.5 GHz "
        "(single-core turbo) x 3.6 GHz x 4 cores = 284.5 GFLOP/s, assuming linear scaling "
        "(no multi-threaded 3.6 GHz desktop measurement was found; the RPi 4 scales 2.0x on "
        "4 cores in [S1], so this may be up to 2x optimistic)",
        "cores": _ONE_TASK + " (the estimate is an all-core rate)",
        "memory": "[DHS] the paper's edge server has 24 GB of RAM",
        **_DESKTOP_POWER_SOURCES,
    },
)

# --------------------------------------------------------------------------------------------
# the COFA paper's devices
# --------------------------------------------------------------------------------------------
_N7_VOLTS = 3.70
_N7_IDLE_MA = 3.8 + 54.6  # cpu.idle + cpu.awake
_N7 = DevicePreset(
    name="nexus7",
    title="Google Nexus 7 (2012)",
    hardware="Tegra 3, 4x Cortex-A9 @ 1.2 GHz, 1 GB; Java Linpack",
    speed=106.1e6,
    speed_basis="Linpack (Java) as measured by the COFA paper",
    memory=1 * GIB,
    power=PowerProfile(
        idle=_battery_watts(_N7_IDLE_MA, _N7_VOLTS),
        busy=_battery_watts(_N7_IDLE_MA + 160.0, _N7_VOLTS),
        transmit=_battery_watts(_N7_IDLE_MA + 31.0, _N7_VOLTS),
    ),
    role="device",
    sources={
        "speed": "[COFA] Linpack 106.1 MFLOPS on the local device (single-threaded assumed; "
        "the paper does not say)",
        "cores": _ONE_TASK,
        "memory": "[COFA] the paper's Nexus 7 has 1 GB",
        "power.idle": "[AOSP-grouper] (cpu.idle 3.8 + cpu.awake 54.6) mA x 3.70 V "
        "[pcper-N7] = 0.216 W; screen and radio off",
        "power.busy": "[AOSP-grouper] idle + cpu.active 160 mA (one core at 1.2 GHz, "
        "marked '!ESTIMATES!' in the file) x 3.70 V = 0.808 W",
        "power.transmit": "[AOSP-grouper] idle + wifi.active 31.0 mA x 3.70 V = 0.331 W",
    },
)

_6P_VOLTS = 3.85
_6P_IDLE_MA = 0.144925583 + 9.488210416  # cpu.idle + cpu.awake
_6P = DevicePreset(
    name="nexus6p",
    title="Google Nexus 6P",
    hardware="Snapdragon 810, 4x Cortex-A57 @ 1.96 GHz + 4x A53 @ 1.56 GHz, 3 GB; Java Linpack",
    speed=298.5e6,
    speed_basis="Linpack (Java) as measured by the COFA paper",
    memory=3 * GIB,
    power=PowerProfile(
        idle=_battery_watts(_6P_IDLE_MA, _6P_VOLTS),
        busy=_battery_watts(_6P_IDLE_MA + 379.9659093, _6P_VOLTS),
        transmit=_battery_watts(_6P_IDLE_MA + 98.04989804, _6P_VOLTS),
    ),
    role="device",
    sources={
        "speed": "[COFA] Linpack 298.5 MFLOPS on the remote device (single-threaded assumed)",
        "cores": _ONE_TASK,
        "memory": "[techspot-6P] TechSpot review p.3: 3 GB LPDDR4",
        "power.idle": "[AOSP-angler] (cpu.idle 0.145 + cpu.awake 9.488) mA x 3.85 V "
        "[techspot-6P] = 0.037 W; screen and radio off",
        "power.busy": "[AOSP-angler] idle + cpu.active 379.97 mA (one core) x 3.85 V = 1.50 W",
        "power.transmit": "[AOSP-angler] idle + wifi.active 98.05 mA x 3.85 V = 0.415 W",
    },
)

_I7_6700 = DevicePreset(
    name="i7-6700",
    title="Intel Core i7-6700 server (3.4 GHz, 16 GB)",
    hardware="Skylake, 4 cores / 8 threads @ 3.4 GHz, 65 W TDP, 16 GB; Java Linpack",
    speed=2719.6e6,
    speed_basis="Linpack (Java) as measured by the COFA paper",
    memory=16 * GIB,
    power=_DESKTOP_POWER,
    role="edge",
    sources={
        "speed": "[COFA] Linpack 2719.6 MFLOPS on the remote server (single-threaded assumed)",
        "cores": _ONE_TASK,
        "memory": "[COFA] the paper's server has 16 GB",
        "power.idle": "[pcper-6700K] Skylake desktop at the wall, idle 58 W; the i7-6700's "
        "own TDP is 65 W [cpuz-6700]",
        "power.busy": "[pcper-6700K] full CPU load 143.8 W with a 91 W i7-6700K: an upper "
        "bound for the 65 W i7-6700 [cpuz-6700]",
        "power.transmit": _NOT_MEASURED_TX,
    },
)

DEVICE_PRESETS: Mapping[str, DevicePreset] = types.MappingProxyType(
    {p.name: p for p in (_RPI4B, _TX2_GPU, _TX2_CPU, _EDGE, _N7, _6P, _I7_6700)}
)
"""Every device preset by name."""

# --------------------------------------------------------------------------------------------
# links
# --------------------------------------------------------------------------------------------
_WIFI_LATENCY = 0.5 * 6.0e-3
_WIFI_LATENCY_SOURCE = (
    "[S15] Wi-Fi RTT p50 5.94-6.05 ms with power save off (49-127 ms with it on); one-way = "
    "half: 3 ms. Disable power save on the devices"
)

LINK_PRESETS: Mapping[str, LinkPreset] = types.MappingProxyType(
    {
        "wifi-n": LinkPreset(
            "wifi-n",
            "Wi-Fi 802.11n, 2.4 GHz, one stream (CYW43455, the Raspberry Pi's radio)",
            bandwidth=29.4 * MBIT,
            latency=_WIFI_LATENCY,
            sources={
                "bandwidth": "[S14] iperf3 at 2.4 GHz, Pi sending: 29.4 Mbit/s (39.8 receiving)",
                "latency": _WIFI_LATENCY_SOURCE,
            },
        ),
        "wifi-ac": LinkPreset(
            "wifi-ac",
            "Wi-Fi 802.11ac, 5 GHz, one stream (Raspberry Pi 4 built-in radio)",
            bandwidth=77.6 * MBIT,
            latency=_WIFI_LATENCY,
            sources={
                "bandwidth": "[S12] iperf3, RPi 4 at 5 GHz, 1.5 m from the router: 77.6 "
                "Mbit/s, the same both ways. Halve it when several devices send at once",
                "latency": _WIFI_LATENCY_SOURCE,
            },
        ),
        "ethernet": LinkPreset(
            "ethernet",
            "Gigabit Ethernet through one switch",
            bandwidth=939.0 * MBIT,
            latency=0.5 * 0.285e-3,
            sources={
                "bandwidth": "[ethernet-iperf] iperf3 TCP, RPi 4 on gigabit: 939 Mbit/s "
                "(the TCP/IPv4 payload limit of 1 Gbit/s is 941.5)",
                "latency": "[lan-ping] wired-LAN ping, rtt min 0.285 ms; one-way = half",
            },
        ),
    }
)
"""Every link preset by name."""


def device_preset_names() -> list[str]:
    """Names of the device presets, in the order they are listed."""
    return list(DEVICE_PRESETS)


def link_preset_names() -> list[str]:
    """Names of the link presets, in the order they are listed."""
    return list(LINK_PRESETS)


def presets_to_dict() -> dict[str, Any]:
    """Every preset and reference as a JSON-ready dict (what ``edgeoffload presets --json``
    prints).

    Returns
    -------
    dict
        A new dict with, in this order:

        ``devices``
            :meth:`DevicePreset.to_dict` of every device preset, in listing order.
        ``links``
            :meth:`LinkPreset.to_dict` of every link preset, in listing order.
        ``references``
            Short key → full reference (:data:`REFERENCES`).

    Examples
    --------
    >>> d = presets_to_dict()
    >>> list(d), d["devices"][0]["name"], d["links"][-1]["name"]
    (['devices', 'links', 'references'], 'rpi4b', 'ethernet')
    """
    return {
        "devices": [p.to_dict() for p in DEVICE_PRESETS.values()],
        "links": [p.to_dict() for p in LINK_PRESETS.values()],
        "references": dict(REFERENCES),
    }


def device_preset(name: str) -> DevicePreset:
    """The device preset ``name``.

    Raises
    ------
    ModelError
        On an unknown name; the message lists the known ones.
    """
    try:
        return DEVICE_PRESETS[name]
    except KeyError:
        known = ", ".join(DEVICE_PRESETS)
        raise ModelError(f"unknown device preset {name!r}; known: {known}", "device") from None


def link_preset(name: str) -> LinkPreset:
    """The link preset ``name``.

    Raises
    ------
    ModelError
        On an unknown name; the message lists the known ones.
    """
    try:
        return LINK_PRESETS[name]
    except KeyError:
        known = ", ".join(LINK_PRESETS)
        raise ModelError(f"unknown link preset {name!r}; known: {known}", "link") from None
