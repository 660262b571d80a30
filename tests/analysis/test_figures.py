"""The report's figures at both widths and at the layout extremes: no text leaves the
figure and no two texts overlap (bounding boxes as rendered), every panel states n."""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

from analysis import figures
from analysis.bootstrap import tally_scopes
from analysis.export import normalise_export
from analysis.rankings import rankings_from_export
from analysis.report import figure_data
from analysis.simulate import simulate_export
from analysis.tables import TABLES, Analysis, ReportOptions, headline_pair

#: The tables the figures draw from (the others, e.g. Plackett-Luce, are not needed).
DRAWN = {"rank_shares", "rank_summary", "pairwise_preference", "cd_ranks", "nemenyi", "friedman"}

LONG_NAMES = [f"variant number {i} with a long name" for i in range(8)]


def figure_data_for(items: int, countries: int, variants: int, long_names: bool = False):
    keys = [f"v{i}" for i in range(variants)]
    export = simulate_export(
        participants_per_country=3,
        pages_per_participant=2,
        countries=[f"C{c:02d}" for c in range(countries)],
        variants=keys,
        labels=dict(zip(keys, LONG_NAMES if long_names else keys, strict=False)),
        items=[f"question {i}" for i in range(items)],
        preference=np.linspace(0, 1, variants),
        image_sets_per_country=4,
        seed=1,
    )
    rankings = rankings_from_export(normalise_export(export))
    options = ReportOptions(n_boot=100)
    scopes = tally_scopes(rankings, n_boot=options.n_boot, seed=0)
    tables = {t.name: t.build(rankings, scopes, options) for t in TABLES if t.name in DRAWN}
    analysis = Analysis(rankings, options, tables, headline_pair(rankings, options))
    return figure_data(analysis)


def drawn_text_boxes(fig, monkeypatch):
    """Window extents of every non-empty text the drawing of the figure really drew
    (a tick label outside the axis range exists but is not drawn)."""
    drawn = []
    draw = Text.draw

    def recording(text, renderer):
        draw(text, renderer)
        if text.get_visible() and text.get_text().strip():
            drawn.append(text)

    monkeypatch.setattr(Text, "draw", recording)
    fig.canvas.draw()
    monkeypatch.setattr(Text, "draw", draw)
    renderer = fig.canvas.get_renderer()
    boxes = []
    for text in drawn:
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            boxes.append((text.get_text(), box))
    return boxes


def overlaps(boxes, tolerance=0.5):
    """Pairs of texts whose boxes intersect by more than tolerance pixels each way
    (compared a block of boxes at a time, so thousands of texts stay cheap)."""
    b = np.array([[x.x0, x.y0, x.x1, x.y1] for _, x in boxes]).reshape(-1, 4)
    found = []
    for start in range(0, len(b), 256):
        block = b[start : start + 256]
        width = np.minimum(block[:, None, 2], b[None, :, 2]) - np.maximum(
            block[:, None, 0], b[None, :, 0]
        )
        height = np.minimum(block[:, None, 3], b[None, :, 3]) - np.maximum(
            block[:, None, 1], b[None, :, 1]
        )
        hit = (width > tolerance) & (height > tolerance)
        for i, j in zip(*np.nonzero(hit), strict=True):
            if start + i < j:
                found.append((boxes[start + i][0], boxes[j][0]))
    return found


EXTREMES = [(1, 1, 2, False), (10, 12, 8, True), (1, 12, 8, True), (10, 1, 2, False)]


@pytest.mark.parametrize(("items", "countries", "variants", "long_names"), EXTREMES)
def test_every_figure_at_both_widths_keeps_its_text_inside_and_apart(
    items, countries, variants, long_names, monkeypatch
):
    data = figure_data_for(items, countries, variants, long_names)
    for (name, make), width in itertools.product(figures.MAKERS.items(), figures.WIDTHS.values()):
        fig = make(data, width)
        boxes = drawn_text_boxes(fig, monkeypatch)
        assert fig.get_figwidth() == pytest.approx(width)
        bounds = fig.bbox
        outside = [
            t
            for t, box in boxes
            if box.x0 < bounds.x0 - 1
            or box.x1 > bounds.x1 + 1
            or box.y0 < bounds.y0 - 1
            or box.y1 > bounds.y1 + 1
        ]
        assert not outside, f"{name} at {width} in: text outside the figure: {outside[:3]}"
        clashes = overlaps(boxes)
        assert not clashes, f"{name} at {width} in: overlapping text: {clashes[:3]}"
        titles = [t for t, _ in boxes if t.count("participants")]
        assert titles, f"{name} at {width} in states no n"
        plt.close(fig)
