"""Reversi (Othello) with both players AI: COFA's first experiment, in pure Python.

The paper (Kim et al., COFA, J. KIIT 15(11), 2017) offloads a Reversi game in which both
players are computer players searching the game tree with minimax to depth 6. Here:

* the board is two 64-bit bitboards (Python ints), so move generation is a few dozen
  integer operations rather than a loop over squares;
* the search is **negamax with alpha-beta pruning** (minimax with cut-offs: the same
  move and value as plain minimax, which :func:`search` also offers for checking, at a
  fraction of the nodes — plain depth-6 minimax takes minutes in Python);
* the evaluation, from the side to move, is a classic positional weight table plus
  mobility (10 points per legal move more than the opponent), and ±10 000 plus the disc
  difference at the end of the game;
* moves are tried in a fixed order (square weight, then square index), so the search
  is deterministic: same position, same depth, same move, anywhere.

:func:`best_move` is the heavy function; it is marked ``@edgeoffload.offload`` so that,
inside an ``edgeoffload.connect()`` session, each call may run on a faster machine. With
no session it runs here. One depth-6 move from a mid-game position takes about 0.3 to 3
seconds on one core of a 2020s server, and far more on a slow one; a whole game (about
60 moves) is minutes, so experiments play a fixed number of plies from the start
(``play_game(..., plies=N)``).

Run ``python examples/cofa/reversi.py --help``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import edgeoffload

__all__ = [
    "BLACK",
    "WHITE",
    "Board",
    "GameRecord",
    "SearchResult",
    "best_move",
    "play_game",
    "search",
]

BLACK, WHITE = 0, 1
"""Players; BLACK moves first."""

_FULL = (1 << 64) - 1
_NOT_A = 0xFEFEFEFEFEFEFEFE  # every square but column a (index % 8 == 0)
_NOT_H = 0x7F7F7F7F7F7F7F7F  # every square but column h (index % 8 == 7)
# (shift, mask applied after shifting): E, W, S, N, SE, SW, NE, NW with square = 8*row + col
_DIRECTIONS = ((1, _NOT_A), (-1, _NOT_H), (8, _FULL), (-8, _FULL),
               (9, _NOT_A), (7, _NOT_H), (-7, _NOT_A), (-9, _NOT_H))  # fmt: skip

# A classic positional weight table (corners good, squares next to them bad).
_WEIGHTS = (
    100, -20, 10,  5,  5, 10, -20, 100,
    -20, -50, -2, -2, -2, -2, -50, -20,
     10,  -2,  1,  1,  1,  1,  -2,  10,
      5,  -2,  1,  0,  0,  1,  -2,   5,
      5,  -2,  1,  0,  0,  1,  -2,   5,
     10,  -2,  1,  1,  1,  1,  -2,  10,
    -20, -50, -2, -2, -2, -2, -50, -20,
    100, -20, 10,  5,  5, 10, -20, 100,
)  # fmt: skip
# The table as (weight, bitboard of the squares with that weight), for popcount scoring.
_WEIGHT_MASKS = tuple(
    (w, sum(1 << sq for sq, x in enumerate(_WEIGHTS) if x == w))
    for w in sorted(set(_WEIGHTS))
    if w != 0
)
# Move ordering: best squares first, ties by index.
_ORDER = tuple(sorted(range(64), key=lambda sq: (-_WEIGHTS[sq], sq)))
_MOBILITY_WEIGHT = 10
_WIN = 10_000


def _shift(bits: int, n: int, mask: int) -> int:
    return ((bits << n) if n > 0 else (bits >> -n)) & mask


def _moves(me: int, opp: int) -> int:
    """Bitboard of the squares where the player owning ``me`` may play."""
    empty = ~(me | opp) & _FULL
    moves = 0
    for n, mask in _DIRECTIONS:
        x = _shift(me, n, mask) & opp
        x |= _shift(x, n, mask) & opp
        x |= _shift(x, n, mask) & opp
        x |= _shift(x, n, mask) & opp
        x |= _shift(x, n, mask) & opp
        x |= _shift(x, n, mask) & opp
        moves |= _shift(x, n, mask) & empty
    return moves


def _flips(me: int, opp: int, square: int) -> int:
    """Bitboard of the discs flipped when the owner of ``me`` plays ``square`` (0 if none)."""
    flips = 0
    move = 1 << square
    for n, mask in _DIRECTIONS:
        line = 0
        x = _shift(move, n, mask)
        while x & opp:
            line |= x
            x = _shift(x, n, mask)
        if x & me:
            flips |= line
    return flips


def _squares(bits: int) -> list[int]:
    """The set squares of a bitboard, in search order."""
    return [sq for sq in _ORDER if bits >> sq & 1]


@dataclass(frozen=True, slots=True)
class Board:
    """A Reversi position: the discs of each player as 64-bit bitboards.

    Square ``8 * row + col``; row 0 is the top, col 0 is column *a*.
    """

    black: int
    white: int

    @classmethod
    def initial(cls) -> Board:
        """The standard start: white on d4 and e5, black on e4 and d5."""
        return cls(black=(1 << 28) | (1 << 35), white=(1 << 27) | (1 << 36))

    def discs(self, player: int) -> tuple[int, int]:
        """``(player's discs, opponent's discs)``."""
        return (self.black, self.white) if player == BLACK else (self.white, self.black)

    def legal_moves(self, player: int) -> list[int]:
        """The squares ``player`` may play, in search order (best squares first)."""
        me, opp = self.discs(player)
        return _squares(_moves(me, opp))

    def play(self, square: int, player: int) -> Board:
        """The position after ``player`` plays ``square``.

        Raises
        ------
        ValueError
            The move is not legal.
        """
        me, opp = self.discs(player)
        flips = _flips(me, opp, square) if not (me | opp) >> square & 1 else 0
        if not flips:
            raise ValueError(f"{square_name(square)} is not a legal move for {_NAMES[player]}")
        me |= flips | (1 << square)
        opp &= ~flips
        return Board(me, opp) if player == BLACK else Board(opp, me)

    def is_over(self) -> bool:
        """Neither player can move."""
        return not _moves(self.black, self.white) and not _moves(self.white, self.black)

    def count(self) -> tuple[int, int]:
        """``(black discs, white discs)``."""
        return self.black.bit_count(), self.white.bit_count()

    def __str__(self) -> str:
        rows = ["  a b c d e f g h"]
        for r in range(8):
            cells = []
            for c in range(8):
                bit = 1 << (8 * r + c)
                cells.append("X" if self.black & bit else "O" if self.white & bit else ".")
            rows.append(f"{r + 1} {' '.join(cells)}")
        return "\n".join(rows)


_NAMES = ("black", "white")


def square_name(square: int) -> str:
    """``19`` -> ``"d3"``."""
    return f"{'abcdefgh'[square % 8]}{square // 8 + 1}"


def _evaluate(me: int, opp: int) -> int:
    score = 0
    for w, mask in _WEIGHT_MASKS:
        score += w * ((me & mask).bit_count() - (opp & mask).bit_count())
    mobility = _moves(me, opp).bit_count() - _moves(opp, me).bit_count()
    return score + _MOBILITY_WEIGHT * mobility


class _Counter:
    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = 0


def _negamax(me: int, opp: int, depth: int, alpha: int, beta: int, c: _Counter) -> int:
    c.nodes += 1
    if depth == 0:
        return _evaluate(me, opp)
    moves = _moves(me, opp)
    if not moves:
        if not _moves(opp, me):  # game over
            diff = me.bit_count() - opp.bit_count()
            return (_WIN if diff > 0 else -_WIN if diff < 0 else 0) + diff
        return -_negamax(opp, me, depth - 1, -beta, -alpha, c)  # pass
    best = -_WIN * 2
    for sq in _squares(moves):
        flips = _flips(me, opp, sq)
        value = -_negamax(opp & ~flips, me | flips | (1 << sq), depth - 1, -beta, -alpha, c)
        if value > best:
            best = value
            if value > alpha:
                alpha = value
                if alpha >= beta:
                    break
    return best


def _plain(me: int, opp: int, depth: int, c: _Counter) -> int:
    """Plain negamax, no pruning: the reference the alpha-beta search must agree with."""
    c.nodes += 1
    if depth == 0:
        return _evaluate(me, opp)
    moves = _moves(me, opp)
    if not moves:
        if not _moves(opp, me):
            diff = me.bit_count() - opp.bit_count()
            return (_WIN if diff > 0 else -_WIN if diff < 0 else 0) + diff
        return -_plain(opp, me, depth - 1, c)
    best = -_WIN * 2
    for sq in _squares(moves):
        flips = _flips(me, opp, sq)
        best = max(best, -_plain(opp & ~flips, me | flips | (1 << sq), depth - 1, c))
    return best


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a search found.

    Attributes
    ----------
    move
        The square to play, or ``None`` if the player must pass.
    score
        The move's value for the player, in evaluation points.
    nodes
        Positions visited.
    seconds
        Wall time of the search where it ran (the computation alone, no transfer).
    cpu_seconds
        CPU time of the search there (less than ``seconds`` when the CPU was shared).
    """

    move: int | None
    score: int
    nodes: int
    seconds: float
    cpu_seconds: float = 0.0


def search(board: Board, player: int, depth: int, *, pruning: bool = True) -> SearchResult:
    """Search ``depth`` plies ahead for ``player``'s best move.

    Parameters
    ----------
    board
        The position.
    player
        ``BLACK`` or ``WHITE``, the side to move.
    depth
        Plies to search (≥ 1); the paper uses 6.
    pruning
        Alpha-beta cut-offs (default). ``False`` searches the full minimax tree: the same
        result, far more nodes.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    t0, c0 = time.perf_counter(), time.thread_time()
    me, opp = board.discs(player)
    counter = _Counter()
    best_sq: int | None = None
    best = alpha = -_WIN * 4
    for sq in _squares(_moves(me, opp)):
        flips = _flips(me, opp, sq)
        child_me, child_opp = opp & ~flips, me | flips | (1 << sq)
        if pruning:
            value = -_negamax(child_me, child_opp, depth - 1, -_WIN * 4, -alpha, counter)
        else:
            value = -_plain(child_me, child_opp, depth - 1, counter)
        if value > best:
            best, best_sq = value, sq
            alpha = max(alpha, value)
    if best_sq is None:
        best = 0
    seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
    return SearchResult(best_sq, best, counter.nodes + 1, seconds, cpu)


@edgeoffload.offload
def best_move(board: Board, player: int, depth: int = 6) -> SearchResult:
    """``player``'s best move by alpha-beta minimax to ``depth`` plies (the heavy call)."""
    return search(board, player, depth)


@dataclass(frozen=True, slots=True)
class GameRecord:
    """A game played by :func:`play_game`.

    Attributes
    ----------
    moves
        ``(player, square or None for a pass)`` in order.
    searches
        The search result of every move.
    final
        The last position.
    seconds
        Wall time of the whole game, as seen by the caller.
    """

    moves: tuple[tuple[int, int | None], ...]
    searches: tuple[SearchResult, ...]
    final: Board
    seconds: float

    @property
    def compute_seconds(self) -> float:
        """Time spent searching, wherever the searches ran."""
        return sum(s.seconds for s in self.searches)

    @property
    def compute_cpu_seconds(self) -> float:
        """CPU time spent searching, wherever the searches ran."""
        return sum(s.cpu_seconds for s in self.searches)


def play_game(
    depth: int = 6,
    plies: int | None = None,
    *,
    move: Callable[[Board, int, int], SearchResult] | None = None,
    on_move: Callable[[int, SearchResult], None] | None = None,
) -> GameRecord:
    """Play from the start with both players AI.

    Parameters
    ----------
    depth
        Search depth of both players (the paper: 6).
    plies
        Stop after this many moves (passes count); ``None`` plays to the end.
    move
        The search to call, ``best_move`` by default (offloaded inside a session); pass
        ``best_move.local`` to force local computation.
    on_move
        Called after every move with the ply number (from 1) and its search result.
    """
    choose = best_move if move is None else move
    t0 = time.perf_counter()
    board, player = Board.initial(), BLACK
    moves: list[tuple[int, int | None]] = []
    searches: list[SearchResult] = []
    while not board.is_over() and (plies is None or len(moves) < plies):
        result = choose(board, player, depth)
        if result.move is not None:
            board = board.play(result.move, player)
        moves.append((player, result.move))
        searches.append(result)
        if on_move is not None:
            on_move(len(moves), result)
        player = 1 - player
    return GameRecord(tuple(moves), tuple(searches), board, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Reversi with both players AI (alpha-beta minimax), COFA's first experiment. "
            "Plays locally, or offloads every search with --offload."
        )
    )
    parser.add_argument("--depth", type=int, default=6, help="search depth (default: 6)")
    parser.add_argument(
        "--plies", type=int, default=10, help="moves to play, 0 for a whole game (default: 10)"
    )
    parser.add_argument(
        "--offload",
        action="store_true",
        help="open an edgeoffload session (an embedded local cluster) and offload the searches",
    )
    parser.add_argument("--board", action="store_true", help="print the final position")
    args = parser.parse_args(argv)

    def show(ply: int, r: SearchResult) -> None:
        where = "pass" if r.move is None else square_name(r.move)
        print(f"{ply:3d}  {_NAMES[(ply - 1) % 2]:5}  {where:4}  score {r.score:6d}"
              f"  {r.nodes:7d} nodes  {r.seconds:7.3f} s")  # fmt: skip

    plies = args.plies or None
    if args.offload:
        with edgeoffload.connect() as session:
            game = play_game(args.depth, plies, on_move=show)
            session.print_summary()
    else:
        game = play_game(args.depth, plies, move=best_move.local, on_move=show)
    black, white = game.final.count()
    print(f"{len(game.moves)} moves in {game.seconds:.2f} s"
          f" ({game.compute_seconds:.2f} s searching); black {black}, white {white}")  # fmt: skip
    if args.board:
        print(game.final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
