"""Seeded mutation fuzzing of every input format, through the real entry points.

Each case mutates a valid input — a problem file (``edgeoffload schedule``), a scenario
(``edgeoffload simulate``), a netem topology (``load_topology``), a cluster file
(``load_cluster_file``, what ``run --cluster-file`` reads), a WfCommons trace
(``edgeoffload import wfcommons``) or the command line of an offline command
(``schedule``, ``simulate``, ``export``, ``import``, ``sweep``, ``calibrate``,
``presets``, ``dnn``, ``certs``) — and runs it in a forked child process held to 1 GiB
more memory than the parent uses and to 20 s. A case
**passes** when the command succeeds, or refuses the input with exit code 2 and exactly one
line (``edgeoffload: error: ...``). Anything else is a failure, by kind: a traceback or an
internal error (exit 1), a hang (killed at 20 s), memory (the limit hit), a signal.

Run: ``make fuzz`` (``ARGS="--cases 5000 --seed 1"``). Writes ``results/fuzz.json`` and each
failing input under ``results/fuzz-failures/``. ``tests/cli/test_input_fuzz.py`` runs a
small fixed budget of the same cases in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT = 20.0
MEMORY_LIMIT = 2**30

# values that broke, or could break, a reader: out of range, wrong type, special floats
NASTY: list[Any] = [
    10**400,
    -(10**30),
    1e308,
    -1e308,
    1e-320,
    -1,
    0,
    0.0,
    -0.0,
    1.7e9,
    1e9,
    10**6,
    True,
    False,
    None,
    "12",
    "",
    "x" * 10_000,
    [],
    {},
    [[[[[[[[[[]]]]]]]]]],
    float("nan"),
    float("inf"),
    -float("inf"),
]


SCALES = [0.001, 0.5, 2, 10, 1000, 10**6, 10**9]

# command-line values: the strings a user (or a script gone wrong) can type
NASTY_ARGS: list[str] = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e400",
    "9" * 400,
    "1000000",
    "100000000",
    "",
    "x" * 10_000,
    ",",
    "1,,2",
    "a,b",
    "-",
    "--",
    "/dev/zero",
    "/dev/null",
    "{fifo}/sub",
    "{fifo}",
    "{out}",
    "{out}/sub/../../x",
    "delta1=nan",
    "delta1=1e400",
    "=",
]


def _leaves(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _leaves(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _leaves(v, (*prefix, i))
    return out


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def mutate(document: Any, rng: random.Random) -> Any:
    """``document`` with one to three random changes: a value replaced by a nasty one, a
    key deleted or added, a list emptied or repeated."""
    data = copy.deepcopy(document)
    paths = _leaves(data)
    scalars = [p for p in paths if not isinstance(_get(data, p), dict | list)]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(scalars if scalars and rng.random() < 0.75 else paths)
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            key = path[-1]
            action = rng.random()
            value = parent[key]
            if isinstance(value, int | float) and not isinstance(value, bool) and action < 0.4:
                # a plausible number, larger or smaller: explores past the first check
                parent[key] = type(value)(value * rng.choice(SCALES))
                continue
            if action < 0.6:
                parent[key] = copy.deepcopy(rng.choice(NASTY))
            elif action < 0.75:
                del parent[key]
            elif action < 0.85 and isinstance(parent, dict):
                parent[f"unknown_{rng.randint(0, 9)}"] = rng.choice(NASTY)
            elif isinstance(parent[key], list) and parent[key]:
                parent[key] = parent[key] * rng.choice([0, 2, 50])
            else:
                parent[key] = copy.deepcopy(rng.choice(NASTY))
        except (KeyError, IndexError, TypeError):
            continue
    return data


def _json_text(data: Any, rng: random.Random) -> str:
    text = json.dumps(data, allow_nan=True)
    if rng.random() < 0.1 and '{"' in text:  # a duplicate key, which json.dumps never writes
        at = text.index('{"') + 1
        end = text.index(",", at) if "," in text[at:] else len(text) - 1
        text = text[:at] + text[at:end] + "," + text[at:]
    if rng.random() < 0.05:
        text = text[: rng.randint(0, len(text))]  # cut short
    return text


def _yaml_text(data: Any, rng: random.Random) -> str:
    import yaml

    def represent(dumper: Any, value: float) -> Any:
        if value != value:
            return dumper.represent_scalar("tag:yaml.org,2002:float", ".nan")
        if value in (float("inf"), float("-inf")):
            return dumper.represent_scalar(
                "tag:yaml.org,2002:float", "-.inf" if value < 0 else ".inf"
            )
        return dumper.represent_scalar("tag:yaml.org,2002:float", repr(value))

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(float, represent)
    text = yaml.dump(data, Dumper=Dumper, sort_keys=False)
    if rng.random() < 0.1:
        first = text.splitlines()[0]
        text = f"{first}\n{text}"  # the first key twice
    return text


# --------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    seed: Any
    render: Callable[[Any, random.Random], str]
    run: Callable[[Path], int]
    mutator: Callable[[Any, random.Random], Any] = mutate


def mutate_argv(argvs: list[list[str]], rng: random.Random) -> list[str]:
    """One of ``argvs`` with one or two changes: a value (never the command's name)
    replaced by a nasty one, an argument dropped, or one repeated."""
    argv = list(rng.choice(argvs))
    for _ in range(rng.randint(1, 2)):
        k = rng.randrange(1, len(argv)) if len(argv) > 1 else 0
        action = rng.random()
        if action < 0.7 and k:
            argv[k] = rng.choice(NASTY_ARGS)
        elif action < 0.85 and k:
            del argv[k]
        else:
            argv.insert(k, argv[k])
    return argv


def _argv_text(argv: list[str], rng: random.Random) -> str:
    return json.dumps(argv)


def _cli_file(path: Path, work: Path) -> int:
    out = work / "out"
    argv = [
        a.replace("{fifo}", str(work / "fifo")).replace("{out}", str(out))
        for a in json.loads(path.read_text())
    ]
    return _cli(argv)


def _cli(args: list[str]) -> int:
    from edgeoffload.cli import main

    return main(args)


def _reader(read: Callable[[Path], object]) -> Callable[[Path], int]:
    """A library reader run as the command line runs it: a ModelError is one line, exit 2."""

    def run(path: Path) -> int:
        from edgeoffload.errors import ModelError

        try:
            read(path)
        except ModelError as exc:
            print(f"edgeoffload: error: {exc}", file=sys.stderr)
            return 2
        return 0

    return run


def _load_topology(path: Path) -> object:
    from edgeoffload.netem.topology import load_topology

    return load_topology(path)


def _load_cluster(path: Path) -> object:
    from edgeoffload.runtime.client.calibration import load_cluster_file

    return load_cluster_file(path)


def formats(work: Path) -> list[Format]:
    import yaml

    problem = json.loads((ROOT / "tests" / "data" / "topcuoglu2002.json").read_text())
    scenario = yaml.safe_load(
        (resources.files("edgeoffload.workloads.data.scenarios") / "dhs-paper.yaml").read_text()
    )
    scenario["repetitions"] = 1
    scenario["algorithms"] = ["local", "heft", "dhs"]
    scenario["conditions"] = {"B-L": scenario["conditions"]["B-L"]}
    topology = yaml.safe_load((ROOT / "deploy" / "netem" / "camera-cluster.yaml").read_text())
    from edgeoffload.runtime.client.calibration import cluster_file_dict
    from edgeoffload.workloads.scenarios import load_scenario

    cluster = cluster_file_dict(load_scenario("dhs-paper").cluster, about="fuzz seed")
    out = work / "out"
    fifo = work / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    problem_path = work / "seed-problem.json"
    problem_path.write_text(json.dumps(problem))
    traces = ROOT / "tests" / "data" / "wfcommons"
    trace = json.loads((traces / "handmade-1.4.json").read_text())
    cluster_path = work / "seed-cluster.json"
    cluster_path.write_text(json.dumps(cluster))
    offline = [
        [
            "simulate",
            str(problem_path),
            "-n",
            "2",
            "--exec-cv",
            "0.1",
            "--no-plots",
            "--out",
            "{out}",
        ],
        [
            "import",
            "wfcommons",
            str(traces / "srasearch-chameleon-10a-001.json"),
            "--cluster",
            str(cluster_path),
            "-o",
            "{out}/w.json",
            "--reference-speed",
            "1e9",
        ],
        ["schedule", str(problem_path), "-a", "optimal", "-p", "time_limit=1", "--json"],
        ["schedule", str(problem_path), "-a", "heft", "--json"],
        ["schedule", str(problem_path), "-a", "dhs", "-p", "delta1=0.2", "--gantt", "{out}/g"],
        ["schedule", str(problem_path), "-a", "portfolio", "-p", "members=heft,peft"],
        [
            "simulate",
            "dhs-paper",
            "-n",
            "1",
            "-c",
            "B-L",
            "-a",
            "heft,dhs",
            "--seed",
            "3",
            "--no-plots",
            "--out",
            "{out}",
        ],
        ["export", "dhs-paper", "-c", "U-H", "-o", "{out}/p.json"],
        [
            "sweep",
            "dhs-paper",
            "--cameras",
            "2,3",
            "--bandwidth-scale",
            "1",
            "--mix",
            "B-L",
            "-n",
            "1",
            "--workers",
            "1",
            "-a",
            "heft,dhs",
            "--no-plots",
            "--out",
            "{out}",
        ],
        [
            "calibrate",
            "dhs-paper",
            "--problems",
            "2",
            "-n",
            "1",
            "--workers",
            "1",
            "--delta1",
            "0.1",
            "--delta2",
            "1",
            "--seed",
            "1",
            "--no-plots",
            "--out",
            "{out}",
        ],
        ["presets", "rpi4b", "--json"],
        ["dnn", "alexnet", "-g", "block", "--json"],
        ["certs", "{out}/certs", "--host", "edge.local", "--days", "30"],
    ]
    return [
        Format(
            "problem",
            ".json",
            problem,
            _json_text,
            lambda p: _cli(["schedule", str(p), "-a", "heft", "--json"]),
        ),
        Format(
            "scenario",
            ".yaml",
            scenario,
            _yaml_text,
            lambda p: _cli(["simulate", str(p), "--no-plots", "--out", str(out)]),
        ),
        Format("topology", ".yaml", topology, _yaml_text, _reader(_load_topology)),
        Format("cluster", ".json", cluster, _json_text, _reader(_load_cluster)),
        Format(
            "wfcommons",
            ".json",
            trace,
            _json_text,
            lambda p: _cli(
                [
                    "import",
                    "wfcommons",
                    str(p),
                    "--cluster",
                    str(cluster_path),
                    "-o",
                    str(out / "w.json"),
                ]
            ),
        ),
        Format("cli", ".argv", offline, _argv_text, lambda p: _cli_file(p, work), mutate_argv),
    ]


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    format: str
    case: int
    kind: str  # ok, rejected, internal, traceback, hang, memory, signal, not-one-line
    seconds: float
    message: str


def _vm_size() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_case(fmt: Format, path: Path, case: int) -> Outcome:
    """Run one input in a forked child under the time and memory caps."""
    err_file = path.with_suffix(".err").resolve()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: caps, then the command, in a folder of its own
        code = 70
        try:
            sandbox = path.parent / "cwd"
            sandbox.mkdir(exist_ok=True)
            os.chdir(sandbox)  # relative outputs ("--out 0", "certs =") land here
            limit = _vm_size() + MEMORY_LIMIT
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            with (
                open(err_file, "w") as err,
                contextlib.redirect_stderr(err),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                try:
                    code = fmt.run(path)
                except MemoryError:
                    code = 71
                except BaseException:
                    import traceback

                    traceback.print_exc()
                    code = 72
                err.flush()
        finally:
            os._exit(code)
    deadline = started + TIME_LIMIT
    status = None
    while time.perf_counter() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    if status is None or not done:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return Outcome(fmt.name, case, "hang", seconds, f"killed after {TIME_LIMIT:.0f} s")
    message = err_file.read_text(errors="replace") if err_file.exists() else ""
    if os.WIFSIGNALED(status):
        return Outcome(fmt.name, case, "signal", seconds, f"signal {os.WTERMSIG(status)}")
    code = os.WEXITSTATUS(status)
    lines = message.strip().splitlines()
    if code == 0:
        return Outcome(fmt.name, case, "ok", seconds, "")
    if code == 71 or "MemoryError" in message:
        return Outcome(fmt.name, case, "memory", seconds, lines[-1] if lines else "")
    if code == 72 or "Traceback" in message:
        return Outcome(fmt.name, case, "traceback", seconds, lines[-1] if lines else "")
    if code == 2 and len(lines) == 1 and lines[0].startswith("edgeoffload: error: "):
        return Outcome(fmt.name, case, "rejected", seconds, lines[0])
    if "internal error" in message:
        return Outcome(fmt.name, case, "internal", seconds, lines[-1] if lines else "")
    return Outcome(fmt.name, case, "not-one-line", seconds, " | ".join(lines)[:300])


FAILURES = ("internal", "traceback", "hang", "memory", "signal", "not-one-line", "outside")


def _preload() -> None:
    """Import everything the commands use once, here: the forked children share it (fast)
    and all run the same code, even if the sources change during a long run."""
    import edgeoffload.cli
    import edgeoffload.netem.topology
    import edgeoffload.runtime.client.calibration
    import edgeoffload.simulation
    import edgeoffload.workloads.scenarios

    edgeoffload.cli.main_parser()  # imports every command's module


def fuzz(cases: int, seed: int, names: list[str], work: Path) -> list[Outcome]:
    """Run ``cases`` mutated inputs spread over the formats ``names``."""
    _preload()
    rng = random.Random(seed)
    chosen = [f for f in formats(work) if f.name in names]
    outcomes = []
    for case in range(cases):
        fmt = chosen[case % len(chosen)]
        text = fmt.render(fmt.mutator(fmt.seed, rng), rng)
        path = work / f"{fmt.name}-{case}{fmt.suffix}"
        path.write_text(text)
        outcome = run_case(fmt, path, case)
        shutil.rmtree(work / "cwd", ignore_errors=True)  # what the case wrote
        outcomes.append(outcome)
        if outcome.kind not in FAILURES:
            path.unlink()
            path.with_suffix(".err").unlink(missing_ok=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--formats", default="problem,scenario,topology,cluster,wfcommons,cli")
    parser.add_argument("--out", default=str(ROOT / "results"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    failures_dir = out / "fuzz-failures"
    failures_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    here = set(os.listdir())
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = fuzz(args.cases, args.seed, args.formats.split(","), Path(tmp))
        for o in outcomes:
            if o.kind in FAILURES:
                for f in Path(tmp).glob(f"*-{o.case}.*"):
                    f.replace(failures_dir / f.name)
    kinds = Counter((o.format, o.kind) for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"{len(outcomes)} cases in {time.perf_counter() - started:.0f} s (seed {args.seed})")
    for name in args.formats.split(","):
        row = {k: kinds[(name, k)] for k in ("ok", "rejected", *FAILURES) if kinds[(name, k)]}
        print(f"  {name:9} {row}")
    print(f"  slowest case: {slowest.format} #{slowest.case}, {slowest.seconds:.1f} s")
    failures = [o for o in outcomes if o.kind in FAILURES]
    for o in failures[:20]:
        print(f"  FAIL {o.format} #{o.case} {o.kind}: {o.message[:160]}")
    stray = sorted(set(os.listdir()) - here)  # each case runs in a folder of its own
    if stray:
        print(f"  FAIL wrote outside its folder, into {os.getcwd()}: {', '.join(stray)[:300]}")
        failures.append(Outcome("all", -1, "outside", 0.0, ", ".join(stray)))
    (out / "fuzz.json").write_text(
        json.dumps([o.__dict__ for o in outcomes], indent=0, default=str)
    )
    goal = "met" if not failures else "NOT met"
    print(
        f"goal: 0 tracebacks, 0 internal errors, 0 hangs over {TIME_LIMIT:.0f} s, 0 cases over "
        f"1 GiB, every rejection one line: {goal} ({len(failures)} failures)"
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
