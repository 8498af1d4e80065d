"""geomap — service map and nearest-station locator for new-employment-form workers.

新就业形态劳动者服务地图：站点登记、最近站点查询、15分钟服务圈。

All coordinates handled inside the package are WGS84 longitude/latitude in degrees unless a name or a
``crs=`` argument says otherwise (see :mod:`geomap.coords`).

In Python, a place's data is one call away: ``ws = geomap.open_workspace("data/yangpu")`` gives its registry
(``ws.registry``), street graphs (``ws.graph("ebike")``), nearest stations (``ws.nearest(...)``) and planning
study (``ws.study()``); see :mod:`geomap.workspace`.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__", "open_workspace"]


def __getattr__(name: str) -> Any:
    """``geomap.open_workspace`` and ``geomap.Workspace``, imported on first use (``import geomap`` stays light)."""
    if name in ("open_workspace", "Workspace"):
        from geomap import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'geomap' has no attribute {name!r}")
