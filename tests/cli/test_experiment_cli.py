"""``edgeoffload experiment cofa``: options, a clean stop where throttling is impossible,
and a real end-to-end --quick run (a throttled client subprocess and two Dask workers)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.runtime.host.throttle import GROUP_PARENT, cgroup_cpu_root, throttle_available


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--runs", "0"], id="zero-runs"),
        pytest.param(["--apps", "reversi,tetris"], id="unknown-app"),
        pytest.param(["--depth", "0"], id="zero-depth"),
        pytest.param(["--quick", "--paper-ratios"], id="quick-and-paper"),
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A bad option value is one line on stderr and exit code 2, before anything starts."""
    assert main(["experiment", "cofa", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgeoffload: error:")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("quota", ["0", "1.5", "x"])
def test_bad_quota_is_a_usage_error(quota: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A quota outside (0, 1] is refused by the parser: exit 2, one line."""
    assert main(["experiment", "cofa", "--phone-quota", quota]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--phone-quota" in err, err


def test_stops_cleanly_without_throttling(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where no process can be throttled, the command says why in one line (exit 1)."""
    from edgeoffload.runtime.host import throttle

    monkeypatch.setattr(throttle, "throttle_available", lambda method="cgroup": "not root")
    assert main(["experiment", "cofa", "--quick"]) == 1
    err = capsys.readouterr().err.strip()
    assert "cannot throttle" in err
    assert "not root" in err
    assert len(err.splitlines()) == 1


@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(
    throttle_available("auto") is not None,
    reason=f"no CPU throttling here: {throttle_available('auto')}",
)
def test_quick_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--quick runs both apps locally and on both workers and reports the paper beside."""
    out = tmp_path / "cofa"
    assert main(["experiment", "cofa", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Beside the paper" in text
    assert "1.8×" in text  # the paper's Reversi whole-run speedup to the nearby device

    data = json.loads((out / "cofa.json").read_text())
    records = data["records"]
    assert {(r["app"], r["target"]) for r in records} == {
        (app, target) for app in ("reversi", "linpack") for target in ("phone", "nearby", "server")
    }
    for r in records:
        expected = "local" if r["target"] == "phone" else r["target"]
        assert r["where"] == {expected: r["calls"]}, r  # every call ran where it was sent
        assert 0 < r["compute"] <= r["whole"]
        assert r["calls"] == (4 if r["app"] == "reversi" else 1)
    summaries = {(s["app"], s["target"]): s for s in data["summaries"]}
    for app in ("reversi", "linpack"):
        # Phone 0.1 core, nearby 0.28, server up to a whole core: 2.8x and 10x asked. On a
        # shared 2-core machine the unthrottled server may get a fifth of a core, so the
        # bounds only say that offloading paid.
        for target in ("nearby", "server"):
            assert summaries[(app, target)]["compute_speedup"] > 1.2
            assert summaries[(app, target)]["whole_speedup"] > 1.2
            assert summaries[(app, target)]["energy_change"] < -0.2
        assert 0.05 < summaries[(app, "phone")]["compute_share"] < 0.15  # the phone's quota
    linpack = [r for r in records if r["app"] == "linpack"]
    assert all(r["mflops"] > 0 for r in linpack)
    roles = {c["role"]: c for c in data["calibration"]}
    assert set(roles) == {"phone", "nearby", "server"}
    assert roles["phone"]["wall"] > roles["server"]["wall"]

    report = (out / "report.md").read_text()
    assert "## Results beside the paper's" in report
    assert "2719.6" in report
    for png in ("reversi_speedups.png", "linpack_speedups.png", "energy.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")

    # the phone and its throttling groups are gone
    phone = data["environment"]["phone_pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(phone, 0)
    root = cgroup_cpu_root()
    if root is not None and (root / GROUP_PARENT).is_dir():
        assert not [p for p in (root / GROUP_PARENT).iterdir() if p.name.startswith(f"{phone}-")]
