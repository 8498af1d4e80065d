"""The published map's service-circle bands redrawn after edits (geomap.network.areas.BandState): after
random adds, moves and deletes, the bands drawn from what changed equal the bands drawn afresh, cell for
cell and polygon for polygon, on the real extract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from geomap.network.areas import BandState, band_polygons
from geomap.network.nearest import station_labels
from tests._workspaces import sample_workspace


@pytest.mark.parametrize(("hole_fill_m2", "cell_m"), [(2_000.0, 10.0), (20_000.0, 10.0), (2_000.0, 25.0)])
def test_bands_after_edits_equal_a_fresh_drawing(tmp_path: Path, hole_fill_m2: float, cell_m: float) -> None:
    ws = sample_workspace(tmp_path / "w")
    g = ws.graph("ebike")
    frame = ws.registry.frame()
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    ids = frame["id"].to_numpy(dtype=object)
    rng = np.random.default_rng(int(hole_fill_m2 + cell_m))
    mins = [2.0, 4.0, 6.0]
    kw = {"buffer_m": 30.0, "hole_fill_m2": hole_fill_m2, "cell_m": cell_m}
    g.__dict__.pop("_band_states", None)
    edits = {"add": 0, "move": 0, "delete": 0}
    windowed = 0
    for step in range(12):
        labels = station_labels(g, station_lon=lon, station_lat=lat, station_ids=ids, k=1).labels
        kept = band_polygons(labels, mins, keep=True, **kw)
        state: BandState = next(iter(g.__dict__["_band_states"].values()))
        fresh_state = BandState(labels, mins, **kw)
        fresh = fresh_state.update(labels)
        assert np.array_equal(state.level, fresh_state.level), step
        assert np.array_equal(state.area, fresh_state.area), step
        assert np.allclose(kept[1], fresh[1])
        for a, b in zip(kept[0], fresh[0], strict=True):
            assert shapely.equals_exact(a, b, tolerance=0.0) or a.equals(b), step
        windowed += int(state.reach * 4 < min(state.nx, state.ny))
        # the next station set: one random edit, as an admin makes them
        what = ["add", "move", "delete"][step % 3]
        edits[what] += 1
        i = int(rng.integers(len(lon)))
        if what == "add":
            j = int(rng.integers(g.n_nodes))
            lon, lat = np.append(lon, g.node_lon[j] + 1e-4), np.append(lat, g.node_lat[j])
            ids = np.append(ids, f"new{step}")
        elif what == "move":
            j = int(rng.integers(g.n_nodes))
            lon, lat = lon.copy(), lat.copy()
            lon[i], lat[i] = g.node_lon[j] - 1e-4, g.node_lat[j]
        else:
            keep = np.arange(len(lon)) != i
            lon, lat, ids = lon[keep], lat[keep], ids[keep]
    assert edits == {"add": 4, "move": 4, "delete": 4}
    if hole_fill_m2 < 10_000:
        assert windowed  # the redraw was confined to a window of the raster, not the whole of it


def test_an_edit_redraws_a_window_not_the_city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A station added in one corner resamples the streets of the tiles it changed, not every street."""
    import geomap.network.areas as areas

    ws = sample_workspace(tmp_path / "w")
    g = ws.graph("ebike")
    frame = ws.registry.frame()
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    kw = {"buffer_m": 30.0, "hole_fill_m2": 2_000.0, "cell_m": 10.0}
    g.__dict__.pop("_band_states", None)
    band_polygons(station_labels(g, station_lon=lon, station_lat=lat, k=1).labels, [2.0, 4.0], keep=True, **kw)
    sampled: list[int] = []
    real = areas._sample_times
    monkeypatch.setattr(areas, "_sample_times", lambda lab, streets, *a: sampled.append(len(streets)) or
                        real(lab, streets, *a))
    corner = int(np.argmin(g.node_lon + g.node_lat))
    band_polygons(station_labels(g, station_lon=np.append(lon, g.node_lon[corner]),
                                 station_lat=np.append(lat, g.node_lat[corner]), k=1).labels, [2.0, 4.0],
                  keep=True, **kw)
    assert len(sampled) == 1 and 0 < sampled[0] < g.n_streets / 2


def test_another_process_redraws_from_the_saved_drawing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that never drew these bands (another worker's map process, a restarted service: a second
    opening of the workspace) starts from the drawing saved beside the labels, redraws only what the edit
    changed, and gets the bands of a fresh drawing, cell for cell."""
    import geomap.network.areas as areas
    from geomap.workspace import open_workspace

    ws = sample_workspace(tmp_path / "w")
    frame = ws.registry.frame()
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    kw = {"buffer_m": 30.0, "hole_fill_m2": 2_000.0, "cell_m": 10.0}
    mins = [2.0, 4.0]
    g1 = ws.graph("ebike")
    band_polygons(station_labels(g1, station_lon=lon, station_lat=lat, k=1).labels, mins, keep=True, **kw)
    assert len(list(ws.cache_dir.glob("bands_*"))) == 1
    # the other process: the same workspace opened afresh, its graph from the cache, nothing drawn in memory
    g2 = open_workspace(ws.root).graph("ebike")
    assert g2 is not g1 and "_band_states" not in g2.__dict__
    sampled: list[int] = []
    real = areas._sample_times
    monkeypatch.setattr(areas, "_sample_times", lambda lab, streets, *a: sampled.append(len(streets)) or
                        real(lab, streets, *a))
    corner = int(np.argmin(g2.node_lon + g2.node_lat))
    lon2, lat2 = np.append(lon[1:], g2.node_lon[corner]), np.append(lat[1:], g2.node_lat[corner])  # a delete, an add
    labels = station_labels(g2, station_lon=lon2, station_lat=lat2, k=1).labels
    kept = band_polygons(labels, mins, keep=True, **kw)
    state: BandState = next(iter(g2.__dict__["_band_states"].values()))
    assert state.loaded and len(sampled) == 1 and 0 < sampled[0] < g2.n_streets / 2
    monkeypatch.setattr(areas, "_sample_times", real)
    fresh_state = BandState(labels, mins, **kw)
    fresh = fresh_state.update(labels)
    assert np.array_equal(state.level, fresh_state.level) and np.array_equal(state.area, fresh_state.area)
    assert np.allclose(kept[1], fresh[1])
    for a, b in zip(kept[0], fresh[0], strict=True):
        assert shapely.equals_exact(a, b, tolerance=0.0) or a.equals(b)
