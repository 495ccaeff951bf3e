"""Directed acyclic graphs as PNGs: cells and wirings of the search spaces, side by side.

A :class:`~gtnas.spaces.base.DagDrawing` is a plain description (node labels, labelled edges,
which edges to dash) that each search space builds from its genotype
(:meth:`~gtnas.spaces.base.SearchSpace.picture`); :func:`draw_dags` lays every drawing out in
layers from left to right - a node's column is its longest-path depth from the sources, so every
edge points rightwards - and draws them in one figure. Within a column the nodes are ordered by
the mean height of their predecessors (one barycentre sweep), which removes most crossings in
cell-sized graphs. Edges that skip a column are bent so they do not run through the nodes in
between.

matplotlib is imported inside the function and used through ``Figure`` directly (never pyplot),
so no GUI backend or global figure state is involved; the file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from gtnas.runtime.files import atomic_write
from gtnas.spaces.base import DagDrawing, SearchSpace

# Layout in data units; one data unit is drawn about one inch wide, so fonts and nodes keep their
# size whatever the graph.
COLUMN_GAP = 1.7  # between layers, room for an edge label such as "nor_conv_3x3"
ROW_GAP = 1.0  # between nodes of one layer
NODE_RADIUS = 0.24
MARGIN = 0.55
INCHES_PER_UNIT = 1.0
MAX_FIGURE_INCHES = 40.0  # larger figures are scaled down as a whole


def node_depths(drawing: DagDrawing) -> list[int]:
    """Longest-path depth of every node from the sources (nodes without inputs have depth 0).

    Raises ValueError for an edge naming a node that does not exist, a dashed pair that is not an
    edge, or a cycle (which has no depths).
    """
    count = len(drawing.nodes)
    successors: list[list[int]] = [[] for _ in range(count)]
    in_degree = [0] * count
    for edge in drawing.edges:
        source, target, _ = edge
        for node in (source, target):
            if not isinstance(node, int) or not 0 <= node < count:
                raise ValueError(
                    f"{drawing.title!r}: edge {edge!r} names node {node!r}, but the graph has "
                    f"nodes 0..{count - 1}"
                )
        successors[source].append(target)
        in_degree[target] += 1
    pairs = {(source, target) for source, target, _ in drawing.edges}
    stray = sorted(drawing.dashed - pairs)
    if stray:
        raise ValueError(f"{drawing.title!r}: dashed pairs {stray} are not edges of the graph")

    # Kahn's algorithm in topological order; a node's depth is fixed once all its inputs are.
    depth = [0] * count
    ready = [node for node in range(count) if in_degree[node] == 0]
    visited = 0
    while ready:
        node = ready.pop()
        visited += 1
        for target in successors[node]:
            depth[target] = max(depth[target], depth[node] + 1)
            in_degree[target] -= 1
            if in_degree[target] == 0:
                ready.append(target)
    if visited < count:
        on_cycle = [node for node in range(count) if in_degree[node] > 0]
        raise ValueError(
            f"{drawing.title!r} is not acyclic: nodes {on_cycle} lie on or after a cycle"
        )
    return depth


def _layout(drawing: DagDrawing) -> list[tuple[float, float]]:
    """(x, y) of every node: x by depth, y by a barycentre ordering within each column."""
    depth = node_depths(drawing)
    predecessors: list[list[int]] = [[] for _ in drawing.nodes]
    for source, target, _ in drawing.edges:
        predecessors[target].append(source)
    columns: dict[int, list[int]] = {}
    for node, d in enumerate(depth):
        columns.setdefault(d, []).append(node)

    position: list[tuple[float, float]] = [(0.0, 0.0)] * len(drawing.nodes)
    for d in sorted(columns):
        members = columns[d]
        if d > 0:  # sources keep their id order; later columns follow their inputs' heights

            def barycentre(node: int) -> float:
                return sum(position[p][1] for p in predecessors[node]) / len(predecessors[node])

            members = sorted(members, key=lambda node: (-barycentre(node), node))
        top = (len(members) - 1) / 2 * ROW_GAP
        for row, node in enumerate(members):
            position[node] = (d * COLUMN_GAP, top - row * ROW_GAP)
    return position


def _bends(drawing: DagDrawing, position: Sequence[tuple[float, float]]) -> list[float]:
    """arc3 ``rad`` of every edge: 0 between neighbouring columns; an edge that skips columns
    bulges about half a row past the straight line (alternately up and down for the long edges
    of one source, so they fan out instead of running on top of each other)."""
    bends = []
    long_edges: dict[int, int] = {}  # per source: how many long edges are already bent
    for source, target, _ in drawing.edges:
        (x0, y0), (x1, y1) = position[source], position[target]
        if round(abs(x1 - x0) / COLUMN_GAP) <= 1:
            bends.append(0.0)
            continue
        count = long_edges.get(source, 0)
        long_edges[source] = count + 1
        bulge = 0.45 * ROW_GAP + 0.15 * ROW_GAP * (count // 2)
        # an arc3 curve's middle lies 0.5 * rad * length from the chord's middle
        rad = min(2 * bulge / math.hypot(x1 - x0, y1 - y0), 0.35)
        bends.append(rad if count % 2 == 0 else -rad)
    return bends


def _middle(
    start: tuple[float, float], end: tuple[float, float], bend: float
) -> tuple[float, float]:
    """Middle of matplotlib's arc3 quadratic Bezier from ``start`` to ``end``: its control point
    is the chord's middle moved by rad * (dy, -dx), and the curve's middle is half-way there (in
    display coordinates, which equal data coordinates up to scale with an equal aspect)."""
    (x0, y0), (x1, y1) = start, end
    return (x0 + x1) / 2 + 0.5 * bend * (y1 - y0), (y0 + y1) / 2 - 0.5 * bend * (x1 - x0)


def _extent(
    drawing: DagDrawing, position: Sequence[tuple[float, float]], bends: Sequence[float]
) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) around the nodes and the bulges of the bent edges."""
    points = list(position) or [(0.0, 0.0)]
    for (source, target, _), bend in zip(drawing.edges, bends, strict=True):
        if bend:
            points.append(_middle(position[source], position[target], bend))
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs) - MARGIN, max(xs) + MARGIN, min(ys) - MARGIN, max(ys) + MARGIN


def draw_dags(path: str | Path, drawings: Sequence[DagDrawing], *, title: str = "") -> Path:
    """Draw ``drawings`` side by side (a grid when there are more than four) as one PNG.

    Readable up to about 32 nodes and 100 edges per drawing. Raises ValueError for a cyclic
    graph or an edge naming a missing node, before anything is written.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyArrowPatch

    if not drawings:
        raise ValueError("draw_dags needs at least one drawing")
    layouts = [_layout(drawing) for drawing in drawings]  # validates every graph first
    bends = [_bends(drawing, position) for drawing, position in zip(drawings, layouts, strict=True)]
    extents = [_extent(*geometry) for geometry in zip(drawings, layouts, bends, strict=True)]
    cell_width = max(right - left for left, right, _, _ in extents)
    cell_height = max(top - bottom for _, _, bottom, top in extents)

    columns = len(drawings) if len(drawings) <= 4 else math.ceil(math.sqrt(len(drawings)))
    rows = math.ceil(len(drawings) / columns)
    title_inches = 0.5 + (0.3 if title else 0.0)
    # at least as wide as the longest title line (about 0.6 em per character)
    title_width = max((len(line) for line in title.splitlines()), default=0) * 9 * 0.6 / 72
    width = max(columns * cell_width * INCHES_PER_UNIT, title_width + 0.3)
    height = rows * (cell_height * INCHES_PER_UNIT + 0.4) + title_inches
    scale = min(1.0, MAX_FIGURE_INCHES / max(width, height))
    figure = Figure(
        figsize=(max(width * scale, 3.0), max(height * scale, 2.0)), layout="constrained"
    )
    if title:
        figure.suptitle(title, fontsize=9)
    grid = figure.subplots(rows, columns, squeeze=False)

    for axes in grid.flat[len(drawings) :]:
        axes.set_axis_off()
    for axes, drawing, position, edge_bends, extent in zip(
        grid.flat, drawings, layouts, bends, extents, strict=False
    ):
        axes.set_axis_off()
        axes.set_aspect("equal")
        left, right, bottom, top = extent
        # centre every drawing in a cell of the common size, so all share one scale
        middle_x, middle_y = (left + right) / 2, (bottom + top) / 2
        axes.set_xlim(middle_x - cell_width / 2, middle_x + cell_width / 2)
        axes.set_ylim(middle_y - cell_height / 2, middle_y + cell_height / 2)
        axes.set_title(drawing.title, fontsize=9)

        circles = []
        for (x, y), label in zip(position, drawing.nodes, strict=True):
            circle = Circle((x, y), NODE_RADIUS, facecolor="#dbe8f5", edgecolor="#33557a", zorder=3)
            axes.add_patch(circle)
            circles.append(circle)
            axes.text(x, y, label, ha="center", va="center", fontsize=7, zorder=4)

        for (source, target, label), bend in zip(drawing.edges, edge_bends, strict=True):
            (x0, y0), (x1, y1) = position[source], position[target]
            dashed = (source, target) in drawing.dashed
            colour = "#9a9a9a" if dashed else "#2b2b2b"
            axes.add_patch(
                FancyArrowPatch(
                    (x0, y0),
                    (x1, y1),
                    patchA=circles[source],
                    patchB=circles[target],
                    arrowstyle="-|>",
                    mutation_scale=9,
                    connectionstyle=f"arc3,rad={bend}",
                    linestyle="--" if dashed else "-",
                    linewidth=0.9,
                    color=colour,
                    zorder=2,
                )
            )
            if label:
                label_x, label_y = _middle((x0, y0), (x1, y1), bend)
                axes.text(
                    label_x,
                    label_y,
                    label,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color=colour,
                    zorder=5,
                    bbox={
                        "boxstyle": "round,pad=0.15",
                        "facecolor": "white",
                        "alpha": 0.8,
                        "linewidth": 0,
                    },
                )

    path = Path(path)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return path


def draw_genotype(space: SearchSpace, genotype: object, path: str | Path) -> Path:
    """Draw ``genotype``'s cells or wiring (what ``space.picture`` describes) as one PNG.
    Raises NotImplementedError for a space that cannot describe its genotypes."""
    picture = space.picture(genotype)
    return draw_dags(path, picture.graphs, title=picture.title)
