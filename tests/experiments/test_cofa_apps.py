"""The COFA example apps (examples/cofa): Reversi rules and search, Linpack, staging."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from edgeoffload.errors import EdgeOffloadError
from edgeoffload.experiments.apps import APP_MODULES, PROBE_MODULE, app_source_dir, copy_apps

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cofa"


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """The apps imported the way the experiment imports them: from a staged folder."""
    folder = copy_apps(tmp_path_factory.mktemp("apps"))
    sys.path.insert(0, str(folder))
    try:
        yield {m: importlib.import_module(m) for m in APP_MODULES}
    finally:
        sys.path.remove(str(folder))
        for m in (*APP_MODULES, PROBE_MODULE):
            sys.modules.pop(m, None)


@pytest.fixture(scope="module")
def reversi(apps: dict[str, ModuleType]) -> ModuleType:
    return apps["reversi"]


@pytest.fixture(scope="module")
def linpack(apps: dict[str, ModuleType]) -> ModuleType:
    return apps["linpack"]


def sq(name: str) -> int:
    """``"d3"`` -> 19."""
    return (int(name[1]) - 1) * 8 + "abcdefgh".index(name[0])


class TestReversiRules:
    def test_opening_moves(self, reversi: ModuleType) -> None:
        """Black has exactly the four standard opening moves."""
        board = reversi.Board.initial()
        assert board.count() == (2, 2)
        assert sorted(board.legal_moves(reversi.BLACK)) == sorted(map(sq, ["d3", "c4", "f5", "e6"]))

    def test_play_flips(self, reversi: ModuleType) -> None:
        """Playing d3 flips d4; white then has c3, e3 and c5."""
        board = reversi.Board.initial().play(sq("d3"), reversi.BLACK)
        assert board.count() == (4, 1)
        assert board.black >> sq("d4") & 1
        assert sorted(board.legal_moves(reversi.WHITE)) == sorted(map(sq, ["c3", "e3", "c5"]))

    def test_flips_in_several_directions(self, reversi: ModuleType) -> None:
        """One move flips every bracketed line at once, and nothing unbracketed."""
        # from d4: e4 is bracketed by f4, d5 by d6; e5 (towards the empty f6) is not
        black = 1 << sq("f4") | 1 << sq("d6")
        white = 1 << sq("e4") | 1 << sq("d5") | 1 << sq("e5")
        board = reversi.Board(black, white).play(sq("d4"), reversi.BLACK)
        assert board.white == 1 << sq("e5")  # e5 is not bracketed from d4
        assert board.count() == (5, 1)

    def test_illegal_moves_are_refused(self, reversi: ModuleType) -> None:
        """An occupied square or a move flipping nothing raises ValueError."""
        board = reversi.Board.initial()
        for name in ("d4", "a1", "d6"):
            with pytest.raises(ValueError, match="not a legal move"):
                board.play(sq(name), reversi.BLACK)

    def test_no_wrap_around_the_board_edge(self, reversi: ModuleType) -> None:
        """A line never continues from column h into column a of the next row."""
        board = reversi.Board(black=1 << sq("g1"), white=1 << sq("h1"))
        assert board.legal_moves(reversi.BLACK) == []
        board = reversi.Board(black=1 << sq("b2"), white=1 << sq("a2"))
        assert board.legal_moves(reversi.BLACK) == []

    def test_game_end(self, reversi: ModuleType) -> None:
        """A position where neither player can move is over; a full board is over."""
        assert reversi.Board(black=(1 << 64) - 1, white=0).is_over()
        assert reversi.Board(black=1 << sq("a1") | 1 << sq("h8"), white=0).is_over()
        assert not reversi.Board.initial().is_over()

    def test_whole_game(self, reversi: ModuleType) -> None:
        """A depth-1 game runs to its end: no moves left, every disc accounted for."""
        game = reversi.play_game(1, None, move=reversi.best_move.local)
        assert game.final.is_over()
        black, white = game.final.count()
        played = sum(1 for _, m in game.moves if m is not None)
        assert black + white == 4 + played
        assert len(game.searches) == len(game.moves)
        assert game.compute_seconds <= game.seconds

    def test_fixed_number_of_plies(self, reversi: ModuleType) -> None:
        """plies stops the game early; on_move sees every ply."""
        seen: list[int] = []
        game = reversi.play_game(2, 5, on_move=lambda ply, r: seen.append(ply))
        assert len(game.moves) == 5
        assert seen == [1, 2, 3, 4, 5]
        assert [p for p, _ in game.moves] == [0, 1, 0, 1, 0]


class TestReversiSearch:
    def test_returns_a_legal_move(self, reversi: ModuleType) -> None:
        """The depth-4 search picks one of the legal moves and counts its nodes."""
        board = reversi.Board.initial()
        result = reversi.search(board, reversi.BLACK, 4)
        assert result.move in board.legal_moves(reversi.BLACK)
        assert result.nodes > 4
        assert result.seconds > 0

    def test_deterministic(self, reversi: ModuleType) -> None:
        """Same position and depth, same move, score and node count."""
        board = reversi.play_game(2, 8).final
        a = reversi.search(board, reversi.BLACK, 4)
        b = reversi.best_move(board, reversi.BLACK, 4)
        assert (a.move, a.score, a.nodes) == (b.move, b.score, b.nodes)

    @pytest.mark.parametrize("plies", [0, 7, 14])
    def test_alpha_beta_equals_minimax(self, reversi: ModuleType, plies: int) -> None:
        """Alpha-beta finds plain minimax's move and value, visiting fewer nodes."""
        board = reversi.play_game(2, plies).final
        player = plies % 2
        pruned = reversi.search(board, player, 3)
        full = reversi.search(board, player, 3, pruning=False)
        assert (pruned.move, pruned.score) == (full.move, full.score)
        assert pruned.nodes < full.nodes

    def test_pass_when_no_move(self, reversi: ModuleType) -> None:
        """A player without a legal move gets None (a pass), and the game goes on."""
        board = reversi.Board(black=1 << sq("a1"), white=1 << sq("b1"))
        assert reversi.search(board, reversi.WHITE, 3).move is None
        assert reversi.search(board, reversi.BLACK, 3).move == sq("c1")

    def test_depth_must_be_positive(self, reversi: ModuleType) -> None:
        """Depth 0 is refused."""
        with pytest.raises(ValueError, match="depth"):
            reversi.search(reversi.Board.initial(), reversi.BLACK, 0)


class TestLinpack:
    def test_flops_formula(self, linpack: ModuleType) -> None:
        """flops(n) = 2/3 n³ + 2 n²; MFLOPS divides by seconds and 10⁶."""
        assert linpack.flops(3) == pytest.approx(2 / 3 * 27 + 18)
        assert linpack.flops(1000) == pytest.approx(2 / 3 * 1e9 + 2e6)
        assert linpack.mflops(1000, 2.0) == pytest.approx((2 / 3 * 1e9 + 2e6) / 2 / 1e6)
        with pytest.raises(ValueError, match="seconds"):
            linpack.mflops(10, 0.0)

    def test_solution_and_residual(self, linpack: ModuleType) -> None:
        """The solve finds x = ones with a normalised residual of order 1."""
        r = linpack.linpack(300, 7)
        assert r.n == 300
        assert r.residual < 10
        assert r.max_error < 1e-8
        assert isinstance(r.residual, float)
        assert r.mflops == pytest.approx(linpack.flops(300) / r.seconds / 1e6)
        assert r.total_seconds >= r.seconds > 0  # generating and checking are extra work
        assert r.total_cpu_seconds >= r.cpu_seconds > 0

    def test_system_is_seeded(self, linpack: ModuleType) -> None:
        """The same seed gives the same system; b is the row sums of A."""
        a1, b1 = linpack.make_system(50, 3)
        a2, b2 = linpack.make_system(50, 3)
        assert np.array_equal(a1, a2)
        assert np.array_equal(b1, b2)
        assert np.allclose(b1, a1.sum(axis=1))
        assert not np.array_equal(a1, linpack.make_system(50, 4)[0])
        assert a1.min() >= -0.5
        assert a1.max() < 0.5

    def test_bad_order(self, linpack: ModuleType) -> None:
        """n < 1 is refused."""
        with pytest.raises(ValueError, match="n must be"):
            linpack.make_system(0)


class TestStaging:
    def test_found_in_the_checkout(self) -> None:
        """In a source checkout the apps come from examples/cofa."""
        assert app_source_dir() == EXAMPLES

    def test_copy(self, tmp_path: Path) -> None:
        """copy_apps writes the two apps, byte for byte, and the calibration probe."""
        copy_apps(tmp_path)
        for m in APP_MODULES:
            assert (tmp_path / f"{m}.py").read_bytes() == (EXAMPLES / f"{m}.py").read_bytes()
        assert "@edgeoffload.offload" in (tmp_path / f"{PROBE_MODULE}.py").read_text()

    def test_environment_override(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """EDGEOFFLOAD_COFA_APPS points at a user's own copy first."""
        copy_apps(tmp_path)
        monkeypatch.setenv("EDGEOFFLOAD_COFA_APPS", str(tmp_path))
        assert app_source_dir() == tmp_path

    def test_missing(self, tmp_path: Path) -> None:
        """A folder without the apps is a one-line error saying where it looked."""
        with pytest.raises(EdgeOffloadError, match=str(tmp_path)):
            app_source_dir(tmp_path)

    def test_apps_are_not_part_of_the_package(self) -> None:
        """The apps are application code: not importable from the edgeoffload package."""
        import edgeoffload

        package = Path(edgeoffload.__file__).parent
        assert not list(package.rglob("reversi.py"))


@pytest.mark.parametrize("script", ["reversi", "linpack"])
def test_standalone_help(script: str) -> None:
    """Each app runs on its own and documents its options."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{script}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--offload" in done.stdout


def test_standalone_linpack_runs() -> None:
    """python examples/cofa/linpack.py -n 200 --runs 1 prints a MFLOPS line."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "linpack.py"), "-n", "200", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "MFLOPS" in done.stdout
