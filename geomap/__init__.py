"""geomap — service map and nearest-station locator for new-employment-form workers.

新就业形态劳动者服务地图：站点登记、最近站点查询、15分钟服务圈。

All coordinates handled inside the package are WGS84 longitude/latitude in degrees unless a name or a
``crs=`` argument says otherwise (see :mod:`geomap.coords`).
"""

__version__ = "0.1.0"
