"""DAG drawings: real PNGs for cell-sized and 32-node graphs, depths by hand, bad graphs refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gtnas.reports.graphs import draw_dags, node_depths
from gtnas.spaces.base import DagDrawing
from pictures import assert_picture

# A NAS-Bench-201-like cell: 4 nodes, every edge i -> j for i < j, one 'none' edge dashed.
CELL = DagDrawing(
    title="cell",
    nodes=("in", "1", "2", "out"),
    edges=(
        (0, 1, "nor_conv_3x3"),
        (0, 2, "nor_conv_3x3"),
        (1, 2, "avg_pool_3x3"),
        (0, 3, "skip_connect"),
        (1, 3, "none"),
        (2, 3, "skip_connect"),
    ),
    dashed=frozenset({(1, 3)}),
)


def _random_dag(nodes: int, edges: int, seed: int) -> DagDrawing:
    """``edges`` distinct edges i -> j with i < j (acyclic by construction), unlabelled."""
    generator = torch.Generator().manual_seed(seed)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < edges:
        a, b = torch.randint(nodes, (2,), generator=generator).tolist()
        if a != b:
            chosen.add((min(a, b), max(a, b)))
    return DagDrawing(
        title=f"random {nodes} nodes",
        nodes=tuple(str(i) for i in range(nodes)),
        edges=tuple((a, b, "") for a, b in sorted(chosen)),
    )


def _assert_png(path: Path, min_pixels: int = 200) -> None:
    assert_picture(path, min_width=min_pixels, min_height=min_pixels)


def test_small_dag_png(tmp_path: Path) -> None:
    path = draw_dags(tmp_path / "new" / "folder" / "cell.png", [CELL], title="a cell")
    assert path == tmp_path / "new" / "folder" / "cell.png"
    _assert_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["cell.png"]  # no temporary file left


def test_32_node_random_dag_png(tmp_path: Path) -> None:
    big = _random_dag(32, 100, seed=0)
    _assert_png(draw_dags(str(tmp_path / "big.png"), [big]), min_pixels=500)


def test_many_drawings_in_a_grid(tmp_path: Path) -> None:
    drawings = [CELL, _random_dag(8, 12, seed=1), CELL, _random_dag(5, 4, seed=2), CELL]
    _assert_png(draw_dags(tmp_path / "grid.png", drawings, title="five"))


def test_depths_are_longest_paths() -> None:
    assert node_depths(CELL) == [0, 1, 2, 3]
    # 0 -> 2 directly and 0 -> 1 -> 2: depth of 2 is the longer path; 3 is an isolated source
    diamond = DagDrawing("d", ("a", "b", "c", "d"), ((0, 2, ""), (0, 1, ""), (1, 2, "")))
    assert node_depths(diamond) == [0, 1, 2, 0]


@pytest.mark.parametrize(
    ("edges", "dashed", "message"),
    [
        (((0, 1, ""), (1, 2, ""), (2, 0, "")), frozenset(), "not acyclic"),
        (((0, 0, ""),), frozenset(), "not acyclic"),
        (((0, 3, ""),), frozenset(), "names node 3"),
        (((-1, 1, ""),), frozenset(), "names node -1"),
        (((0, 1, ""),), frozenset({(1, 2)}), "not edges"),
    ],
)
def test_bad_graphs_are_refused(
    tmp_path: Path,
    edges: tuple[tuple[int, int, str], ...],
    dashed: frozenset[tuple[int, int]],
    message: str,
) -> None:
    bad = DagDrawing("bad", ("a", "b", "c"), edges, dashed)
    with pytest.raises(ValueError, match=message):
        draw_dags(tmp_path / "bad.png", [CELL, bad])
    assert not (tmp_path / "bad.png").exists()
    with pytest.raises(ValueError, match="at least one"):
        draw_dags(tmp_path / "none.png", [])
