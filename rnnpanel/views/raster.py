"""The projection as an image, for samples too large to draw point by point (docs/design.md, Scale).

Above a threshold the app draws the states as one RGBA image rasterised for the visible ranges at
the plot's pixel size, and re-rasterises after each pan or zoom. The browser paints one image
instead of tens of thousands of glyphs (a 50,000-point canvas repaint takes about 0.3 s in a browser
without a GPU) and receives W × H pixels instead of the points; a click is resolved on the server
by geometry (:func:`nearest_state`), not by glyph. A word search's rings, which stay glyphs, are
thinned to one per few pixels of the view (:func:`one_per_cell`) for the same reason.

Colours match the glyph view: on the binary diverging scale a pixel shows the mean colour value of
its states; for multi-class tasks the classes' categorical colours mixed by count (as Datashader's
categorical shading does). Each state covers 3 × 3 pixels, about the glyph view's 4-pixel dot, and
faded sequences form a faint layer underneath.

Plain NumPy (``bincount`` and a box sum) rather than Datashader: Datashader's Numba kernels took
8 s to compile in every new process and 0.25 s per categorical frame at 50,000 states; this takes
a few milliseconds and has nothing to warm up.
"""

from __future__ import annotations

import numpy as np

from rnnpanel.views.sequence import POINT_ALPHA

SPREAD_PX = 1             # each state covers (2 · SPREAD_PX + 1)² pixels
OPACITY = 0.8             # one opaque-ish colour per pixel (the glyphs' 0.6 piles up where they overlap)
FADED_OPACITY = 0.08      # the faint layer of faded sequences
EMPTY_RASTER = {"image": [], "x": [], "y": [], "dw": [], "dh": []}


def _rgb(palette: list[str]) -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in palette], dtype=np.float64)


def _box_sum(image: np.ndarray, px: int) -> np.ndarray:
    """Sum over the (2·px + 1)² neighbourhood of every pixel (zero outside), for (K, H, W) arrays;
    separable, so rows then columns."""
    if px <= 0:
        return image
    k, h, w = image.shape
    padded = np.pad(image, ((0, 0), (px, px), (0, 0)))
    rows = sum(padded[:, d:d + h] for d in range(1, 2 * px + 1)) + padded[:, :h]
    padded = np.pad(rows, ((0, 0), (0, 0), (px, px)))
    return sum(padded[:, :, d:d + w] for d in range(1, 2 * px + 1)) + padded[:, :, :w]


def _layer(x: np.ndarray, y: np.ndarray, c: np.ndarray, palette: list[str], low: float, high: float, *,
           extent: tuple[float, float, float, float], width: int, height: int, opacity: float) -> np.ndarray:
    """(H, W, 4) uint8 RGBA of one set of states; row 0 is the bottom, as Bokeh draws images."""
    x0, x1, y0, y1 = extent
    col = np.floor((x - x0) / (x1 - x0) * width).astype(np.int64)
    row = np.floor((y - y0) / (y1 - y0) * height).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    pixel, c = row[inside] * width + col[inside], c[inside]
    colors = _rgb(palette)
    categorical = len(palette) > 2 and low < 0           # ``c`` is a class index
    if categorical:
        per_state = colors[np.clip(np.rint(c).astype(np.int64), 0, len(palette) - 1)]
        weights = [per_state[:, k] for k in range(3)]
    else:
        weights = [c.astype(np.float64)]
    n = width * height
    sums = np.stack([np.bincount(pixel, minlength=n)]
                    + [np.bincount(pixel, weights=wk, minlength=n) for wk in weights]).astype(np.float32)
    sums = _box_sum(sums.reshape(-1, height, width), SPREAD_PX)
    count = sums[0]
    covered = count > 0
    mean = np.moveaxis(sums[1:] / np.maximum(count, 1), 0, -1)
    if categorical:
        rgb = mean
    else:
        t = np.clip((mean[..., 0] - low) / (high - low), 0.0, 1.0)
        rgb = colors[np.minimum((t * len(palette)).astype(np.int64), len(palette) - 1)]
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.where(covered, int(round(255 * opacity)), 0)
    return rgba


def raster_columns(points: dict[str, np.ndarray], palette: list[str], low: float, high: float, *,
                   x_range: tuple[float, float], y_range: tuple[float, float],
                   width: int, height: int) -> dict[str, list]:
    """An ``image_rgba`` source's data for ``points`` (the glyph view's columns x, y, c, a)
    over ``x_range`` × ``y_range`` at ``width`` × ``height`` pixels; ``palette``, ``low`` and
    ``high`` are the colour mapper's (:func:`rnnpanel.views.colors.scale_palette`)."""
    width, height = max(int(width), 1), max(int(height), 1)
    x0, x1 = map(float, x_range)
    y0, y1 = map(float, y_range)
    extent = (x0, x1 if x1 != x0 else x0 + 1.0, y0, y1 if y1 != y0 else y0 + 1.0)
    x, y, c = (np.asarray(points[k]) for k in ("x", "y", "c"))
    faded = np.asarray(points["a"]) < POINT_ALPHA
    kw = dict(extent=extent, width=width, height=height)
    image = _layer(x[~faded], y[~faded], c[~faded], palette, low, high, opacity=OPACITY, **kw)
    if faded.any():
        under = _layer(x[faded], y[faded], c[faded], palette, low, high, opacity=FADED_OPACITY, **kw)
        image = np.where(image[..., 3:] > 0, image, under)
    packed = np.ascontiguousarray(image).view(np.uint32).reshape(height, width)
    return {"image": [packed], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}


def nearest_state(xy: np.ndarray, x: float, y: float, max_distance: float) -> int:
    """Index of the state drawn nearest to (x, y), or -1 if none lies within ``max_distance``."""
    if len(xy) == 0:
        return -1
    d2 = (xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2
    i = int(np.argmin(d2))
    return i if d2[i] <= max_distance ** 2 else -1


#: A word search's rings on the rasterised map: one found state per cell of this many screen pixels.
#: The rings are 8 px wide, so found states closer than this would be ringed by overlapping rings
#: that look like one; every found state lies within this cell of a ringed one.
RING_CELL_PX = 4


def one_per_cell(xy: np.ndarray, found: np.ndarray, *, x_range: tuple[float, float], y_range: tuple[float, float],
                 width: int, height: int, cell_px: float = RING_CELL_PX, limit: int | None = None) -> np.ndarray:
    """Rows of the found states to ring on a map of ``width`` × ``height`` pixels showing
    ``x_range`` × ``y_range``: the first found state of each ``cell_px`` × ``cell_px`` cell of
    screen pixels, and none outside the ranges; sorted.

    Why: a browser draws ellipses on a 2-D canvas one by one (20,000 rings cost Chromium about
    0.3 s per frame), while the rings a frame can tell apart are bounded by its pixels. Where
    several found states share a cell their rings would overlap into one shape anyway, so one
    ring per cell looks the same, and zooming in (new ranges, re-thinned) separates them again.

    ``found`` is an (N,) bool mask over the rows of ``xy`` or the found rows themselves (ascending,
    so that the ring kept in a cell is the same whatever the ranges). ``limit``: at most this many
    rows; cells grow until they hold no more (so every found state stays within a cell, of the
    grown size, of a ringed one)."""
    found = np.asarray(found)
    rows = np.flatnonzero(found) if found.dtype == bool else found.astype(np.int64, copy=False)
    width, height = max(int(width), 1), max(int(height), 1)
    x0, x1 = map(float, x_range)
    y0, y1 = map(float, y_range)
    x1, y1 = (x1 if x1 != x0 else x0 + 1.0), (y1 if y1 != y0 else y0 + 1.0)
    px = (xy[rows, 0].astype(np.float64) - x0) * (width / (x1 - x0))       # as raster_columns places them
    py = (xy[rows, 1].astype(np.float64) - y0) * (height / (y1 - y0))
    inside = (px >= 0) & (px < width) & (py >= 0) & (py < height)
    rows, px, py = rows[inside], px[inside], py[inside]
    cell = max(float(cell_px), 1e-9)
    while True:
        across = int(np.ceil(width / cell))
        key = np.floor(py / cell).astype(np.int64) * across + np.floor(px / cell).astype(np.int64)
        _, first = np.unique(key, return_index=True)
        if limit is None or len(first) <= limit or cell >= max(width, height):
            break
        cell *= max(1.1, float(np.sqrt(len(first) / max(limit, 1))))
    return np.sort(rows[first])
