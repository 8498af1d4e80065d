"""geomap's HTTP service (FastAPI): thin routes over the library, the rider page, station admin.

>>> from geomap.api import create_app          # doctest: +SKIP
>>> app = create_app(workspace=open_workspace("data/yangpu"))   # loads its registry and graphs at start-up
>>> # uvicorn.run(app) — or `geomap serve`

See ``docs/api.md`` for the endpoints and the decisions behind them.
"""

from geomap.api.app import create_app
from geomap.api.serve import serve
from geomap.api.state import ServiceState

__all__ = ["ServiceState", "create_app", "serve"]
