"""The entities of a group-by set (facility x dimension values) and their volumes.

Entities are sorted by their key; their JSON pieces (entity array, key object, label,
facility metadata) are serialised once and shared by every metric of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quality_compass.synth.generate.json_text import json_string
from quality_compass.synth.generate.texts import title_case
from quality_compass.synth.generate.universe import (
    THIN_EXTRA_DIM,
    BoolArray,
    FloatArray,
    IntArray,
    Universe,
    random_stream,
)


@dataclass(frozen=True)
class VolumeProfile:
    """Per entity, what its monthly volumes are drawn from (a series draws later months)."""

    annual: FloatArray  # expected encounters over the run's months
    expected_days: FloatArray  # mean expected LOS before monthly noise
    days_ratio: FloatArray  # observed / expected LOS
    observed_rate: FloatArray  # chance that a month is observed (1: complete series)

    def rows(self, rows: IntArray) -> VolumeProfile:
        return VolumeProfile(
            self.annual[rows], self.expected_days[rows], self.days_ratio[rows],
            self.observed_rate[rows],
        )  # fmt: skip


@dataclass
class EntitySet:
    """The entities of one group-by set, sorted by their values, plus their volumes."""

    set_id: str
    dims: list[str]
    facility: IntArray
    codes: list[IntArray]
    keys: list[tuple[str, ...]]
    encounters: IntArray  # (E, T) monthly encounters, 0 where missing
    observed: BoolArray  # (E, T)
    gappy: BoolArray  # (E,)
    expected_days: FloatArray  # (E, T) mean expected LOS, NaN where missing
    observed_days: FloatArray  # (E, T) mean observed LOS, NaN where missing
    unique_patients: IntArray  # (E, T)
    los_outliers: IntArray  # (E, T)
    # Serialised pieces shared by every metric.
    entity_json: list[str] = field(default_factory=list)
    key_json: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    facility_meta: list[str] = field(default_factory=list)
    profile: VolumeProfile | None = None

    @property
    def size(self) -> int:
        return len(self.keys)

    def window(self, rows: IntArray, months: slice) -> EntitySet:
        """The entities ``rows`` (in order) over the months ``months``."""
        picked = rows.tolist()
        encounters = self.encounters[rows][:, months]
        observed = self.observed[rows][:, months]
        expected = self.expected_days[rows][:, months]
        observed_days = self.observed_days[rows][:, months]
        unique = self.unique_patients[rows][:, months]
        outliers = self.los_outliers[rows][:, months]
        return EntitySet(
            self.set_id, self.dims, self.facility[rows], [c[rows] for c in self.codes],
            [self.keys[i] for i in picked], encounters, observed,
            np.logical_not(observed.all(axis=1)), expected, observed_days, unique, outliers,
            entity_json=[self.entity_json[i] for i in picked],
            key_json=[self.key_json[i] for i in picked],
            labels=[self.labels[i] for i in picked],
            facility_meta=[self.facility_meta[i] for i in picked],
            profile=self.profile.rows(rows) if self.profile is not None else None,
        )  # fmt: skip

    def facet_index(self, universe: Universe) -> tuple[IntArray, list[tuple[str, ...]]]:
        """Facet (peer group) of every entity: its non-facility values. Facets sorted."""
        if len(self.dims) == 1:
            return np.zeros(self.size, dtype=np.int64), [()]
        combined = np.zeros(self.size, dtype=np.int64)
        for dim, codes in zip(self.dims[1:], self.codes, strict=True):
            combined = combined * len(universe.codes(dim)) + codes
        uniq, inverse = np.unique(combined, return_inverse=True)
        names: list[tuple[str, ...]] = []
        for value in uniq.tolist():
            parts: list[str] = []
            for dim in reversed(self.dims[1:]):
                k = len(universe.codes(dim))
                parts.append(universe.codes(dim)[value % k])
                value //= k
            names.append(tuple(reversed(parts)))
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(order), dtype=np.int64)
        rank[np.array(order, dtype=np.int64)] = np.arange(len(order))
        return rank[inverse].astype(np.int64), [names[i] for i in order]


def build_entities(universe: Universe, set_id: str) -> EntitySet:
    """The entities of one group-by set with their monthly volumes, serialised once."""
    dims = universe.taxonomy.sets[set_id]
    extra = dims[1:]
    rng = random_stream(universe.seed, "entities", set_id)
    facility, code_lists, share = _combinations(universe, extra, rng)
    keys, facility, code_lists, share = _sorted_by_key(universe, extra, facility, code_lists, share)
    volumes, profile = _volumes(universe, bool(extra), facility, share, rng)
    entities = EntitySet(set_id, dims, facility, code_lists, keys, *volumes, profile=profile)
    _serialise_entities(universe, entities)
    return entities


def _combinations(
    universe: Universe, extra: list[str], rng: np.random.Generator
) -> tuple[IntArray, list[IntArray], FloatArray]:
    """(facility, codes per extra dimension, volume share) of every entity, unsorted."""
    n = universe.n
    if not extra:
        facility = np.arange(n, dtype=np.int64)
        code_lists: list[IntArray] = []
        share = np.ones(n)
    elif len(extra) == 1:
        facility, c1 = np.nonzero(universe.presence(extra[0]))
        facility = facility.astype(np.int64)
        code_lists = [c1.astype(np.int64)]
        share = universe.share(extra[0])[facility, c1]
    else:
        first, second = extra[0], extra[1]
        p1 = universe.presence(first)
        p2 = universe.presence(second)
        if first == "vizientServiceLine" and second == "vizientSubServiceLine":
            relation = universe.sub_parent()[None, :] == np.arange(p1.shape[1])[:, None]
            mask = p1[:, :, None] & p2[:, None, :] & relation[None, :, :]
        else:
            keep = rng.random((n, p1.shape[1], p2.shape[1])) < THIN_EXTRA_DIM
            mask = p1[:, :, None] & p2[:, None, :] & keep
        facility, c1, c2 = np.nonzero(mask)
        facility = facility.astype(np.int64)
        code_lists = [c1.astype(np.int64), c2.astype(np.int64)]
        share = universe.share(first)[facility, c1] * universe.share(second)[facility, c2]
    return facility, code_lists, share


def _sorted_by_key(
    universe: Universe,
    extra: list[str],
    facility: IntArray,
    code_lists: list[IntArray],
    share: FloatArray,
) -> tuple[list[tuple[str, ...]], IntArray, list[IntArray], FloatArray]:
    """Entity keys (facility id, values...) and every per-entity array, sorted by key."""
    vocab = [universe.codes(d) for d in extra]
    keys = [
        (universe.ids[f], *(vocab[j][c] for j, c in enumerate(cs)))
        for f, *cs in zip(facility.tolist(), *(c.tolist() for c in code_lists), strict=True)
    ]
    order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
    keys = [keys[i] for i in order.tolist()]
    facility = facility[order] if order.size else facility
    code_lists = [c[order] for c in code_lists]
    share = share[order] if order.size else share
    return keys, facility, code_lists, share


def _volumes(
    universe: Universe,
    segmented: bool,
    facility: IntArray,
    share: FloatArray,
    rng: np.random.Generator,
) -> tuple[
    tuple[IntArray, BoolArray, BoolArray, FloatArray, FloatArray, IntArray, IntArray],
    VolumeProfile,
]:
    """Monthly encounters, observed months, gaps, LOS days, unique patients, outliers;
    and the profile they were drawn from."""
    size, months = facility.size, universe.months
    annual = np.maximum(universe.annual[facility] * share * rng.lognormal(0.0, 0.15, size), 3.0)
    weights = rng.gamma(20.0, size=(size, months))
    weights /= weights.sum(axis=1, keepdims=True)
    observed = np.ones((size, months), dtype=bool)
    gappy = np.zeros(size, dtype=bool)
    observed_rate = np.ones(size)
    if segmented and months >= 2:
        gappy = rng.random(size) < universe.knobs.missing_share
        count = int(gappy.sum())
        if count:
            kept = rng.integers(1, months, size=count)
            ranks = np.argsort(np.argsort(rng.random((count, months)), axis=1), axis=1)
            observed[gappy] = ranks < kept[:, None]
            observed_rate[gappy] = kept / months
    enc = np.where(observed, np.maximum(1, np.rint(annual[:, None] * weights)), 0).astype(np.int64)
    base_exp = np.clip(rng.normal(6.8, 0.9, size), 2.5, None)
    exp_days = base_exp[:, None] + rng.normal(0.0, 0.35, (size, months))
    ratio = rng.normal(1.0, 0.1, size)
    obs_days = exp_days * ratio[:, None] * rng.normal(1.0, 0.06, (size, months))
    exp_days = np.where(observed, exp_days, np.nan)
    obs_days = np.where(observed, obs_days, np.nan)
    unique = np.where(
        observed, np.maximum(1, np.floor(enc * rng.uniform(0.86, 0.97, (size, months)))), 0
    ).astype(np.int64)
    outliers = np.where(observed, rng.binomial(enc, 0.002), 0).astype(np.int64)
    profile = VolumeProfile(annual, base_exp, ratio, observed_rate)
    return (enc, observed, gappy, exp_days, obs_days, unique, outliers), profile


def _serialise_entities(universe: Universe, entities: EntitySet) -> None:
    """The JSON pieces of every entity, strings escaped once each."""
    escaped: dict[str, str] = {}

    def quoted(text: str) -> str:
        out = escaped.get(text)
        if out is None:
            out = escaped[text] = json_string(text)
        return out

    display = " + ".join(title_case(d) for d in entities.dims)
    for key, facility in zip(entities.keys, entities.facility.tolist(), strict=True):
        entities.entity_json.append(
            "["
            + ",".join(
                f'{{"id":"{d}","value":{quoted(v)},"dataset_field":"{d}"}}'
                for d, v in zip(entities.dims, key, strict=True)
            )
            + "]"
        )
        entities.key_json.append(
            "{"
            + ",".join(f'"{d}":{quoted(v)}' for d, v in zip(entities.dims, key, strict=True))
            + "}"
        )
        entities.labels.append(f"{display} {' / '.join(key)}")
        entities.facility_meta.append(
            f'"systemName":{quoted(universe.systems[facility])},"facility":{quoted(universe.names[facility])}'
        )
