"""The COFA experiment's bookkeeping: configuration, plan, summaries, energy, report."""

from __future__ import annotations

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.experiments.cofa import (
    PAPER,
    PAPER_RATIOS,
    CalibrationRow,
    CofaConfig,
    CofaResult,
    RunRecord,
    build_plan,
    calibrated_speedup,
    nominal_speedup,
    phone_energy,
    render_markdown,
    table_rows,
)

POWER = {"idle": 0.2, "busy": 0.8, "transmit": 0.3}  # watts


def record(
    target: str, whole: float, compute: float, cpu: float, app: str = "reversi"
) -> RunRecord:
    where = {"local" if target == "phone" else target: 4}
    return RunRecord(app, target, 1, whole, compute, 4, where, cpu)


@pytest.fixture
def result() -> CofaResult:
    config = CofaConfig(apps=("reversi",), runs=1)
    records = (
        record("phone", 10.0, 9.5, 1.0),  # 1 CPU-s at 0.1 core = 10 s busy
        record("nearby", 4.0, 3.6, 0.02),
        record("server", 1.0, 0.9, 0.01),
    )
    calibration = (
        CalibrationRow("phone", 0.1, 2.0, 0.2, "cgroup"),
        CalibrationRow("nearby", 0.28, 0.8, 0.22, "quota"),
        CalibrationRow("server", None, 0.2, 0.2, "none"),
    )
    return CofaResult(config, records, calibration, {"seconds": 1.0}, POWER)


class TestConfig:
    def test_defaults_keep_the_papers_phone_to_nearby_ratio(self) -> None:
        """The default quotas: phone 1/10 of the server, nearby 2.8x the phone."""
        c = CofaConfig()
        assert c.phone_quota == 0.1
        assert c.nearby_quota / c.phone_quota == pytest.approx(298.5 / 106.1, rel=0.01)
        assert (c.depth, c.runs) == (6, 3)

    def test_paper_ratios(self) -> None:
        """paper_ratios() uses 1/25.6 and 1/9.1 of the server."""
        c = CofaConfig.paper_ratios()
        assert 1 / c.phone_quota == pytest.approx(2719.6 / 106.1, rel=0.01)
        assert 1 / c.nearby_quota == pytest.approx(2719.6 / 298.5, rel=0.01)
        assert PAPER_RATIOS["phone"] == pytest.approx(1 / 25.63, rel=0.01)

    def test_quick_is_small(self) -> None:
        """quick() plays 4 plies, one run, n = 1500, and accepts changes."""
        c = CofaConfig.quick(runs=2)
        assert (c.plies, c.linpack_n, c.runs) == (4, 1500, 2)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("phone_quota", 0.0),
            ("phone_quota", 1.5),
            ("nearby_quota", float("nan")),
            ("runs", 0),
            ("depth", 0),
            ("linpack_n", 5),
            ("apps", ("chess",)),
            ("apps", ()),
            ("method", "magic"),
        ],
    )
    def test_bad_values_name_the_field(self, field: str, value: object) -> None:
        """A bad value is a ModelError naming the parameter."""
        with pytest.raises(ModelError, match=field):
            CofaConfig(**{field: value})  # type: ignore[arg-type]


def test_plan_interleaves_runs() -> None:
    """The plan runs every (app, target) once per run, runs interleaved, quotas set."""
    plan = build_plan(CofaConfig(runs=2))
    items = plan["items"]
    assert len(items) == 2 * 2 * 3
    assert [(i["run"], i["app"], i["target"]) for i in items[:6]] == [
        (1, "reversi", "phone"), (1, "reversi", "nearby"), (1, "reversi", "server"),
        (1, "linpack", "phone"), (1, "linpack", "nearby"), (1, "linpack", "server"),
    ]  # fmt: skip
    assert all(i["quota"] == 0.1 for i in items)
    assert {w["name"]: w["quota"] for w in plan["workers"]} == {"nearby": 0.28, "server": None}
    assert {i["seed"] for i in items if i["app"] == "linpack"} == {1, 2}


class TestEnergy:
    def test_local_run_is_busy(self) -> None:
        """Locally the phone is busy for the whole run: busy power x whole time."""
        e = phone_energy(record("phone", 10.0, 9.5, 1.0), POWER, 0.1)
        assert e["busy"] == pytest.approx(10.0)
        assert e["idle"] == 0
        assert e["energy"] == pytest.approx(8.0)

    def test_offloaded_run(self) -> None:
        """Offloaded: busy for its own CPU work, idle while the remote computes, the rest
        transmitting."""
        e = phone_energy(record("server", 1.0, 0.6, 0.02), POWER, 0.1)
        # busy 0.02/0.1 = 0.2 s, idle 0.6 s, transmit 1.0 - 0.2 - 0.6 = 0.2 s
        assert (e["busy"], e["idle"], e["transmit"]) == pytest.approx((0.2, 0.6, 0.2))
        assert e["energy"] == pytest.approx(0.8 * 0.2 + 0.2 * 0.6 + 0.3 * 0.2)

    def test_busy_never_exceeds_the_run(self) -> None:
        """CPU time beyond the share (a noisy machine) is capped at the whole run."""
        e = phone_energy(record("phone", 1.0, 1.0, 0.5), POWER, 0.1)
        assert e["busy"] == 1.0
        assert e["transmit"] == 0.0


class TestSummaries:
    def test_speedups_against_the_phone(self, result: CofaResult) -> None:
        """Speedups divide the phone's mean times by the target's."""
        by = {s.target: s for s in result.summaries()}
        assert by["phone"].whole_speedup == 1.0
        assert by["nearby"].whole_speedup == pytest.approx(10.0 / 4.0)
        assert by["server"].compute_speedup == pytest.approx(9.5 / 0.9)
        assert by["server"].overhead == pytest.approx(0.1)
        assert by["server"].where == {"server": 4}

    def test_energy_change(self, result: CofaResult) -> None:
        """The energy change is relative to the phone's own run, with its probe share."""
        by = {s.target: s for s in result.summaries()}
        assert result.phone_share() == pytest.approx(0.1)  # cpu / wall of the phone probe
        local = by["phone"].energy
        assert local == pytest.approx(8.0)
        server = phone_energy(result.records[2], POWER, 0.1)["energy"]
        assert by["server"].energy_change == pytest.approx(server / local - 1)
        assert by["server"].energy_change < -0.5

    def test_speed_ratios(self, result: CofaResult) -> None:
        """The probe's speed of each role relative to the server."""
        ratios = result.speed_ratios()
        assert ratios == pytest.approx({"phone": 0.1, "nearby": 0.25, "server": 1.0})
        assert calibrated_speedup(result, "server") == pytest.approx(10.0)
        assert nominal_speedup(result.config, "nearby") == pytest.approx(2.8)

    def test_without_power_no_energy(self, result: CofaResult) -> None:
        """Without power figures the energy is unknown, not zero."""
        bare = CofaResult(result.config, result.records, result.calibration)
        assert all(s.energy is None and s.energy_change is None for s in bare.summaries())


class TestReport:
    def test_cells_put_the_paper_beside_ours(self, result: CofaResult) -> None:
        """Every remote row shows the paper's whole and compute speedups and energy."""
        rows = {r["target"]: r for r in table_rows(result)}
        assert rows["nearby"]["whole × (paper)"] == "2.50× (1.8×)"
        assert rows["server"]["compute × (paper)"] == "10.56× (13.3×)"
        assert rows["server"]["energy (paper)"].endswith("(-79 %)")
        assert rows["phone"]["energy (paper)"] == "8 J"

    def test_markdown(self, result: CofaResult) -> None:
        """The report has the tables, the paper's numbers and their inconsistency noted."""
        text = render_markdown(result, ["reversi_speedups.png"])
        assert "## Results beside the paper's" in text
        assert "## Calibration" in text
        assert "2.9× and 29.2×" in text
        assert "![reversi_speedups.png](reversi_speedups.png)" in text

    def test_paper_figures(self) -> None:
        """The paper's figures as published (and what its MFLOPS imply)."""
        assert PAPER["reversi"]["whole_speedup"] == {"nearby": 1.8, "server": 4.7}
        assert PAPER["reversi"]["compute_speedup"] == {"nearby": 2.2, "server": 13.3}
        assert PAPER["linpack"]["compute_speedup"]["nearby"] == pytest.approx(2.81, abs=0.01)
        assert PAPER["linpack"]["compute_speedup"]["server"] == pytest.approx(25.6, abs=0.05)
        assert PAPER["linpack"]["stated_speedup"] == {"nearby": 2.9, "server": 29.2}
