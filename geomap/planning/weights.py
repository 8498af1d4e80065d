"""How much each demand layer counts when gaps are ranked and sites chosen, in people.

Gap ranking and site proposals add different things together — residents, delivery pickup points, a user's
own points (order counts …). They are added in **resident equivalents** (折合常住人口, people): a resident
counts 1, a pickup point counts ``pickup_weight`` residents, a unit of a user layer counts 1 unless stated.
A cell's score is then a number of people a planner can read ("需求：折合 10,031 人"), and the weighting is
one sentence in the report (:meth:`DemandWeights.explain`).

The default, :data:`DEFAULT_PICKUP_WEIGHT` = 500 residents per pickup point, is a planning judgement, not a
measurement: large enough that a street of restaurants where riders wait counts like a housing block, small
enough that one or two restaurants do not outrank a neighbourhood of ten thousand residents. (Weighting each
layer by its share of its own total — the earlier default — made one of the sample's 45 restaurants worth
5,464 residents, and ranked a cell of 2 restaurants and nobody above one of 10,031 residents.) The planner
changes it with ``pickup_weight=`` (``geomap gaps / plan / report --pickup-weight``) or the workspace's
``pickup_weight`` setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from geomap.settings import get_settings

__all__ = ["DEFAULT_PICKUP_WEIGHT", "PICKUP_LAYERS", "RESIDENT_LAYERS", "DemandWeights", "demand_weights"]

DEFAULT_PICKUP_WEIGHT = 500.0
"""Residents one delivery pickup point counts as, unless the planner says otherwise."""
RESIDENT_LAYERS = ("residents",)
PICKUP_LAYERS = ("restaurants",)


@dataclass(frozen=True)
class DemandWeights:
    """Resident equivalents per unit of each demand layer (``per_unit``: layer name -> people per unit)."""

    per_unit: dict[str, float] = field(default_factory=dict)
    pickup_weight: float = DEFAULT_PICKUP_WEIGHT
    stated: bool = False
    """True when the planner gave the pickup weight (else it is the default)."""

    def of(self, layer: str) -> float:
        """People per unit of ``layer`` (1 for a layer not listed)."""
        return float(self.per_unit.get(layer, 1.0))

    def explain(self, labels: Mapping[str, str] | None = None) -> str:
        """The weighting in one Chinese sentence, e.g. "需求按“折合常住人口”相加：每名常住人口计 1，每个餐饮取餐点
        折合 500 名常住人口（默认值）"; with one layer only, that it alone is counted."""
        labels = dict(labels or {})
        if len(self.per_unit) == 1 and next(iter(self.per_unit)) not in RESIDENT_LAYERS:
            only = next(iter(self.per_unit))
            return f"只有{labels.get(only, only)}一类需求，按它的多少排序"
        parts = []
        for name, w in self.per_unit.items():
            if name in RESIDENT_LAYERS:
                continue
            label = labels.get(name, name)
            unit = "个" if name in PICKUP_LAYERS else "份"
            tail = ("（默认值）" if name in PICKUP_LAYERS and not self.stated else "")
            parts.append(f"每{unit}{label}折合 {w:,.6g} 名常住人口{tail}")
        if not parts:
            return "只计常住人口，每人计 1" if self.per_unit else "没有需求数据"
        return "需求按“折合常住人口”相加：每名常住人口计 1，" + "，".join(parts)


def demand_weights(layers: Iterable[str], *, pickup_weight: float | None = None,
                   weights: Mapping[str, float] | None = None) -> DemandWeights:
    """The weights of the demand layers named ``layers``: residents 1, pickup points ``pickup_weight``
    (default: the settings' ``pickup_weight``, itself :data:`DEFAULT_PICKUP_WEIGHT` unless the workspace
    says otherwise), any other layer ``weights[name]`` (default 1). Weights must be >= 0."""
    stated = pickup_weight is not None
    default = float(getattr(get_settings(), "pickup_weight", DEFAULT_PICKUP_WEIGHT))
    pw = float(pickup_weight) if pickup_weight is not None else default
    stated = stated or pw != DEFAULT_PICKUP_WEIGHT
    given = dict(weights or {})
    per_unit: dict[str, float] = {}
    for name in layers:
        if name in RESIDENT_LAYERS:
            w = 1.0
        elif name in PICKUP_LAYERS:
            w = pw
        else:
            w = float(given.get(name, 1.0))
        if not w >= 0:
            raise ValueError(f"demand weight of {name!r} must be a number >= 0, not {w!r}")
        per_unit[name] = w
    return DemandWeights(per_unit=per_unit, pickup_weight=pw, stated=stated)
