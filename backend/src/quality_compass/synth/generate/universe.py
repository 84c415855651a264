"""The universe of a generated run: facilities, their systems and sizes, and which
dimension values (service lines, discharge statuses, ...) each facility has.

One universe per run, shared by every metric. Every random stream is derived from
``(seed, purpose, names...)``, so adding a group-by set does not change the others' data.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from quality_compass.needle.formulas import AGGREGATE_MIN_PEER_COUNT
from quality_compass.synth.generate.options import Knobs
from quality_compass.synth.generate.taxonomy import Taxonomy
from quality_compass.synth.generate.texts import NAME_ADJECTIVES, NAME_NOUNS, SYSTEM_NAMES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Prevalence model per dimension: Beta(a, b) chance that a facility has a value.
DIM_PREVALENCE: dict[str, tuple[float, float]] = {
    "vizientServiceLine": (6.0, 1.2),
    "dischargeStatus": (1.6, 1.3),
    "admissionSource": (1.5, 1.5),
    "admissionStatus": (4.0, 1.0),
    "payerSegment": (2.0, 1.2),
    "vizientSubServiceLine": (2.0, 1.6),
}
#: Extra dimensions of 3-dimension sets keep each combination with this chance.
THIN_EXTRA_DIM = 0.3


def random_stream(seed: int, *names: str) -> np.random.Generator:
    """An independent random stream for (seed, names): stable across option changes."""
    words = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    words += [zlib.crc32(name.encode("utf-8")) for name in names]
    return np.random.default_rng(words)


@dataclass
class Universe:
    seed: int
    taxonomy: Taxonomy
    months: int
    knobs: Knobs
    ids: list[str]
    names: list[str]
    systems: list[str]
    annual: FloatArray
    outlier_flag: BoolArray
    trend_flag: BoolArray
    curve_flag: BoolArray
    _presence: dict[str, BoolArray] = field(default_factory=dict)
    _share: dict[str, FloatArray] = field(default_factory=dict)
    _parent: dict[str, IntArray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, seed: int, taxonomy: Taxonomy, n: int, months: int, knobs: Knobs) -> Universe:
        rng = random_stream(seed, "facilities")
        ids: set[str] = set()
        while len(ids) < n:
            letters = rng.integers(0, 26, size=(n, 3))
            digits = rng.integers(0, 1000, size=n)
            for row, number in zip(letters.tolist(), digits.tolist(), strict=True):
                if len(ids) >= n:
                    break
                ids.add("".join(chr(65 + c) for c in row) + f"{number:03d}")
        ordered = sorted(ids)
        combos = [f"{a}_{b}" for a in NAME_ADJECTIVES for b in NAME_NOUNS]
        pick = rng.choice(len(combos), size=n, replace=n > len(combos))
        names = [combos[i] for i in pick.tolist()]
        weights = rng.dirichlet(np.full(len(SYSTEM_NAMES), 3.0))
        systems = [SYSTEM_NAMES[i] for i in rng.choice(len(SYSTEM_NAMES), size=n, p=weights)]
        annual = np.exp(rng.normal(math.log(30000.0), 0.45, size=n))
        outlier = rng.random(n) < knobs.outlier_share
        trend = rng.random(n) < knobs.trend_share
        curve = trend & (rng.random(n) < 0.5)
        return cls(
            seed, taxonomy, months, knobs, ordered, names, systems, annual, outlier, trend, curve
        )

    # -- which facility has which dimension value --------------------------------------

    def codes(self, dim: str) -> list[str]:
        return self.taxonomy.dim_codes[dim]

    def sub_parent(self) -> IntArray:
        """Index of the parent service line of every sub-service line (-1 if unknown)."""
        if "vizientSubServiceLine" not in self._parent:
            lines = self.codes("vizientServiceLine")
            by_length = sorted(range(len(lines)), key=lambda i: -len(lines[i]))
            aliases = {"BMT": "Bone Marrow Transplant"}
            parents = []
            for code in self.codes("vizientSubServiceLine"):
                head = code.split(" - ")[0].split("- ")[0].strip()
                target = aliases.get(head)
                found = -1
                for i in by_length:
                    if code.startswith(lines[i]) or lines[i] == target:
                        found = i
                        break
                parents.append(found)
            self._parent["vizientSubServiceLine"] = np.array(parents, dtype=np.int64)
        return self._parent["vizientSubServiceLine"]

    def presence(self, dim: str) -> BoolArray:
        if dim in self._presence:
            return self._presence[dim]
        codes = self.codes(dim)
        k = len(codes)
        rng = random_stream(self.seed, "presence", dim)
        a, b = DIM_PREVALENCE.get(dim, (2.0, 1.5))
        prevalence = rng.beta(a, b, size=k)
        if dim == "vizientSubServiceLine":
            prevalence = np.where(
                [("retired" in c or "only)" in c) for c in codes], prevalence * 0.15, prevalence
            )
        size = np.clip((self.annual / np.median(self.annual)) ** 0.3, 0.6, 1.4)
        chance = np.clip(prevalence[None, :] * size[:, None], 0.0, 0.99)
        present = rng.random((self.n, k)) < chance
        # Rare values: a few facilities only, so their peer group is suppressed.
        rare = rng.random(k) < self.knobs.suppressed_share
        if self.n > 1:
            for j in np.nonzero(rare)[0].tolist():
                count = int(rng.integers(1, min(AGGREGATE_MIN_PEER_COUNT, self.n)))
                present[:, j] = False
                present[rng.choice(self.n, size=count, replace=False), j] = True
        if dim == "vizientSubServiceLine":
            parent = self.sub_parent()
            line_present = self.presence("vizientServiceLine")
            ok = parent >= 0
            present[:, ~ok] = False
            present[:, ok] &= line_present[:, parent[ok]]
        else:
            # Every facility has at least one value of every dimension.
            empty = ~present.any(axis=1)
            present[empty, int(np.argmax(prevalence))] = True
        self._presence[dim] = present
        gamma = rng.gamma(1.0 + 6.0 * prevalence[None, :], size=(self.n, k)) * present
        if dim == "vizientSubServiceLine":
            parent = self.sub_parent()
            share = np.zeros_like(gamma)
            for line in np.unique(parent[parent >= 0]).tolist():
                cols = parent == line
                total = gamma[:, cols].sum(axis=1, keepdims=True)
                with np.errstate(invalid="ignore", divide="ignore"):
                    share[:, cols] = np.where(total > 0, gamma[:, cols] / total, 0.0)
        else:
            share = gamma / gamma.sum(axis=1, keepdims=True)
        self._share[dim] = share
        return present

    def share(self, dim: str) -> FloatArray:
        self.presence(dim)
        return self._share[dim]
