"""Station kinds and amenities: the project's vocabulary, loaded from the TOML files in this folder.

Kinds and amenities are data: their Chinese labels, the aliases that station lists write, their icons and
colours live in ``kinds.toml`` and ``amenities.toml``. Code refers to them only by key
(``outdoor_station``, ``ebike_charging`` …). Each key also has a bit position, so a set of kinds or
amenities of many stations is held as one integer array (bit masks) for fast filtering.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent

# Separators unions use between items of a free-text list ("免费饮水、休憩、如厕").
_SPLIT = re.compile(r"[、,，;；/|\s]+|及|和")
_BRACKETS = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")


@dataclass(frozen=True)
class Term:
    """One vocabulary entry (a kind or an amenity)."""

    key: str
    label: str
    icon: str
    color: str
    aliases: tuple[str, ...]
    bit: int
    short_label: str = ""
    name_markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """An ordered set of terms with alias look-up and bit masks."""

    name: str
    terms: dict[str, Term]
    _alias_exact: dict[str, str] = field(repr=False, default_factory=dict)
    _alias_longest_first: tuple[tuple[str, str], ...] = field(repr=False, default=())

    @classmethod
    def from_toml(cls, path: Path) -> Vocabulary:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        if len(raw) > 62:
            raise ValueError(f"{path}: at most 62 terms fit in an int64 bit mask")
        terms: dict[str, Term] = {}
        exact: dict[str, str] = {}
        for bit, (key, spec) in enumerate(raw.items()):
            aliases = tuple(dict.fromkeys([key, spec["label"], *spec.get("aliases", [])]))
            terms[key] = Term(
                key=key, label=spec["label"], icon=spec.get("icon", "info-sign"),
                color=spec.get("color", "#555555"), aliases=aliases, bit=bit,
                short_label=spec.get("short_label", spec["label"]),
                name_markers=tuple(spec.get("name_markers", [])),
            )
            for a in aliases:
                exact.setdefault(a.strip().lower(), key)
        longest = tuple(sorted(((a.lower(), k) for a, k in exact.items()), key=lambda ak: -len(ak[0])))
        return cls(name=path.stem, terms=terms, _alias_exact=exact, _alias_longest_first=longest)

    def __contains__(self, key: object) -> bool:
        return key in self.terms

    def __iter__(self):
        return iter(self.terms)

    def keys(self) -> list[str]:
        return list(self.terms)

    def lookup(self, text: str) -> str | None:
        """The key whose alias equals ``text`` (trimmed, case-insensitive), or None."""
        return self._alias_exact.get(str(text).strip().lower())

    def require(self, key_or_alias: str) -> str:
        """Resolve a key or alias; raise ValueError listing the valid keys otherwise."""
        key = self.lookup(key_or_alias)
        if key is None:
            valid = ", ".join(f"{k} ({t.label})" for k, t in self.terms.items())
            raise ValueError(f"unknown {self.name[:-1]} {key_or_alias!r}; known: {valid}")
        return key

    def find_in(self, phrase: str) -> tuple[list[str], str]:
        """Keys whose aliases occur in ``phrase``, longest alias first; returns (keys, leftover text).

        Each match is cut out of the phrase before shorter aliases are tried, so "餐食加热" is read as
        food_heating and not also as meals.
        """
        rest = phrase.lower()
        found: list[str] = []
        for alias, key in self._alias_longest_first:
            if alias and alias in rest:
                rest = rest.replace(alias, " ")
                if key not in found:
                    found.append(key)
        return found, rest.strip()

    def mask(self, keys: list[str] | tuple[str, ...]) -> int:
        """Bit mask of a list of keys."""
        m = 0
        for k in keys:
            m |= 1 << self.terms[k].bit
        return m

    def keys_of(self, mask: int) -> list[str]:
        """Keys whose bits are set in ``mask``, in vocabulary order."""
        return [k for k, t in self.terms.items() if int(mask) >> t.bit & 1]

    def masks(self, key_lists: list[list[str]]) -> np.ndarray:
        """int64 bit masks for many stations at once."""
        return np.fromiter((self.mask(ks) for ks in key_lists), dtype=np.int64, count=len(key_lists))


@cache
def kinds() -> Vocabulary:
    """Station kinds (``outdoor_station``, ``driver_home``, ``canteen``, ``rest_point`` …)."""
    return Vocabulary.from_toml(_HERE / "kinds.toml")


@cache
def amenities() -> Vocabulary:
    """Amenities (``water``, ``toilet``, ``ebike_charging`` …)."""
    return Vocabulary.from_toml(_HERE / "amenities.toml")


def split_items(text: str) -> list[str]:
    """Split a free-text list into items on the separators unions use (、，, ; / 和 及 whitespace)."""
    return [t for t in _SPLIT.split(str(text)) if t]


def parse_amenities(text: str | None) -> tuple[list[str], list[str]]:
    """Map free Chinese service text onto amenity keys.

    Returns ``(amenity keys, unmapped items)``: the items of the list (split on 、，; …) in which no alias was
    found are returned so that the import report can name them; nothing is dropped silently. Text in
    brackets is read too ("休息室（按摩椅）"). Results are cached per distinct text.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return [], []
    keys, unmapped = _parse_amenities(str(text))
    return list(keys), list(unmapped)


@lru_cache(maxsize=65536)
def _parse_amenities(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    vocab = amenities()
    keys: list[str] = []
    unmapped: list[str] = []
    for item in split_items(str(text)):
        found, _rest = vocab.find_in(item)
        if found:
            keys.extend(k for k in found if k not in keys)
        else:
            unmapped.append(item)
    return tuple(k for k in vocab.terms if k in keys), tuple(unmapped)


def parse_kinds(text: str | None) -> tuple[list[str], list[str]]:
    """Map a 类型 cell (one or several kinds separated by 、 / , …) onto kind keys.

    Returns ``(kind keys, unknown items)``.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return [], []
    vocab = kinds()
    keys: list[str] = []
    unknown: list[str] = []
    cell = str(text).strip()
    whole = vocab.lookup(cell)
    items = [cell] if whole else split_items(cell)
    for item in items:
        key = vocab.lookup(item) or vocab.lookup(_BRACKETS.sub("", item))
        if key is None:
            unknown.append(item)
        elif key not in keys:
            keys.append(key)
    return keys, unknown


@cache
def _name_markers() -> tuple[tuple[str, str], ...]:
    return tuple((m, k) for k, t in kinds().terms.items() for m in t.name_markers)


def kinds_from_name(name: str) -> list[str]:
    """Kinds that a station's own name declares ("安亭加油站（司机之家）" is a driver_home)."""
    markers = _name_markers()
    if not any(m in name for m, _ in markers):
        return []
    return [k for k, t in kinds().terms.items() if any(m in name for m in t.name_markers)]
