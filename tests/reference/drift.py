#!/usr/bin/env python3
"""Writes crates/sightline-stats/tests/fixtures/drift.json: drift results from the references.

Pinned: numpy==2.4.6, scipy==1.17.1 (tests/reference/requirements.txt).

Run from anywhere, in a virtualenv with the pinned packages:
    python tests/reference/drift.py
The output is committed, so `cargo test` needs no Python. The data is drawn from a
seeded generator: rerunning with the pinned versions reproduces the file byte for byte.

References:
- ks_2samp, wasserstein_distance, jensenshannon, entropy, chisquare: scipy itself.
- wasserstein_normed, psi, hellinger, z: Evidently's formulas (evidently is not a
  dependency here), written out below with numpy/scipy exactly as Evidently computes them.
- sturges bins: numpy.histogram_bin_edges(..., bins="sturges") and numpy.histogram.
- reference-quantile bins: Sightline's own rule, written with numpy.quantile/searchsorted.
"""

import json
import math
import pathlib

import numpy as np
from scipy import spatial, stats

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-stats/tests/fixtures/drift.json"
rng = np.random.default_rng(20261127)


def num(x):
    """JSON has no inf/nan; write them as strings the Rust side understands."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def values(a):
    # Four decimals keep the file small and make ties common in the larger samples.
    return [float(v) for v in np.round(np.asarray(a, dtype=float), 4)]


def numeric_case(name, ref, cur):
    ref, cur = values(ref), values(cur)
    r, c = np.array(ref), np.array(cur)
    case = {"name": name, "reference": ref, "current": cur}
    ks = stats.ks_2samp(r, c, method="auto")
    case["ks"] = {"statistic": num(ks.statistic), "p_value": num(ks.pvalue)}
    w = stats.wasserstein_distance(r, c)
    case["wasserstein"] = num(w)
    case["wasserstein_normed"] = num(w / max(np.std(r), 0.001))
    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
    case["sturges"] = {
        "edges": [num(e) for e in edges],
        "reference": [int(v) for v in np.histogram(r, edges)[0]],
        "current": [int(v) for v in np.histogram(c, edges)[0]],
    }
    case["quantile10"] = quantile_bins(r, c, 10)
    return case


def quantile_bins(r, c, bins):
    """Sightline's reference-quantile bins (see quantile_bins in binning.rs) in numpy terms."""
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    inner = len(edges) - 1

    def count(x):
        idx = np.where(x < edges[0], 0,
                       np.where(x > edges[-1], inner + 1,
                                1 + np.minimum(np.searchsorted(edges, x, side="right") - 1, inner - 1)))
        return [int(v) for v in np.bincount(idx, minlength=inner + 2)]

    return {"edges": [num(e) for e in edges], "reference": count(r), "current": count(c)}


def psi(ref, cur):
    rp = np.asarray(ref, dtype=float) / np.sum(ref)
    cp = np.asarray(cur, dtype=float) / np.sum(cur)
    for p in (rp, cp):
        smallest = min(p[p != 0])
        np.place(p, p == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return np.sum((rp - cp) * np.log(rp / cp))


def hellinger(ref, cur):
    p = np.asarray(ref, dtype=float) / np.sum(ref)
    q = np.asarray(cur, dtype=float) / np.sum(cur)
    return np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)) / np.sqrt(2)


def counts_case(name, ref, cur):
    ref = [float(v) for v in ref]
    cur = [float(v) for v in cur]
    r, c = np.array(ref), np.array(cur)
    # Categories empty on both sides make scipy's statistic 0/0 = NaN; Sightline leaves
    # them out (documented in chi_square), so scipy gets the same reduced vectors.
    keep = (r > 0) | (c > 0)
    f_exp = (r / r.sum() * c.sum())[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = stats.chisquare(c[keep], f_exp)
    return {
        "name": name,
        "reference": ref,
        "current": cur,
        "jensenshannon": num(spatial.distance.jensenshannon(r, c)),
        "kl_div": num(stats.entropy(r, c)),
        "hellinger": num(hellinger(r, c)),
        "psi": num(psi(r, c)),
        "chisquare": {"statistic": num(chi.statistic), "p_value": num(chi.pvalue)},
    }


def category_case(name, ref, cur):
    cats = list(dict.fromkeys(list(ref) + list(cur)))
    return {
        "name": name,
        "reference": list(ref),
        "current": list(cur),
        "categories": cats,
        "reference_counts": [list(ref).count(k) for k in cats],
        "current_counts": [list(cur).count(k) for k in cats],
    }


def z_case(name, rs, rn, cs, cn):
    p1, p2 = rs / rn, cs / cn
    pooled = (p1 * rn + p2 * cn) / (rn + cn)
    if pooled in (0.0, 1.0):
        z, p = 0.0, 1.0
    else:
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / rn + 1.0 / cn))
        p = 2 * (1 - stats.norm.cdf(np.abs(z)))
    return {"name": name, "reference_successes": rs, "reference_total": rn,
            "current_successes": cs, "current_total": cn, "z": num(z), "p_value": num(p)}


numeric = [
    numeric_case("n1 vs n1", [0.5], [1.5]),
    numeric_case("n1 vs n1 equal", [2.0], [2.0]),
    numeric_case("n2 vs n1", [0.0, 1.0], [0.5]),
    numeric_case("n5 vs n5", rng.normal(size=5), rng.normal(size=5)),
    numeric_case("n5 vs n2", rng.normal(size=5), rng.normal(0.5, 1, size=2)),
    numeric_case("n2 vs n5 disjoint", [10.0, 11.0], rng.normal(size=5)),
    numeric_case("ties small ints", rng.integers(0, 4, size=30), rng.integers(0, 5, size=25)),
    numeric_case("ties shared", [1, 1, 2, 2, 3, 3, 3], [1, 2, 2, 2, 3]),
    numeric_case("constant same", [3.0] * 20, [3.0] * 15),
    numeric_case("constant reference", [3.0] * 20, rng.normal(3, 1, size=15)),
    numeric_case("constant shifted", [3.0] * 20, [4.0] * 15),
    numeric_case("n100 vs n80 same", rng.normal(size=100), rng.normal(size=80)),
    numeric_case("n100 vs n100 shift", rng.normal(size=100), rng.normal(0.3, 1, size=100)),
    numeric_case("n500 vs n333 scale", rng.normal(size=500), rng.normal(0, 1.3, size=333)),
    numeric_case("n1000 vs n1000 far", rng.normal(size=1000), rng.normal(3, 1, size=1000)),
    numeric_case("n2000 vs n1500 exp", rng.exponential(size=2000), rng.exponential(1.1, size=1500)),
    numeric_case("n3000 vs n4500 ties", rng.integers(0, 50, size=3000), rng.integers(0, 52, size=4500)),
    numeric_case("n10000 vs n7000", rng.normal(size=10_000), rng.normal(0.02, 1, size=7000)),
    numeric_case("n4000 vs n3000 far", rng.normal(size=4000), rng.normal(0.4, 1, size=3000)),
    # Coprime sizes: the exact path's lattice is 10,000 x 9,999, its most expensive case.
    numeric_case("n9999 vs n10000", rng.normal(size=9999), rng.normal(0.05, 1, size=10_000)),
    numeric_case("n10000 vs n10000 far", rng.normal(size=10_000), rng.normal(0.5, 1, size=10_000)),
    # Past scipy's exact KS regime: asymptotic p-values at the effective size n1 n2 / (n1 + n2).
    numeric_case("n12000 vs n3000", rng.normal(size=12_000), rng.normal(0.1, 1.1, size=3000)),
    numeric_case("n10001 vs n60", rng.normal(size=10_001), rng.normal(0.2, 1, size=60)),
    numeric_case("n10001 vs n7", rng.normal(size=10_001), rng.normal(1, 1, size=7)),
    numeric_case("n10001 vs n1", rng.normal(size=10_001), [0.3]),
]

counts = [
    counts_case("equal", [10, 20, 30], [10, 20, 30]),
    counts_case("proportional", [1, 2, 3], [100, 200, 300]),
    counts_case("small shift", [100, 200, 300, 400], [110, 190, 310, 390]),
    counts_case("two bins", [50, 50], [70, 30]),
    counts_case("one bin", [7], [3]),
    counts_case("empty current bin", [5, 5, 5], [10, 5, 0]),
    counts_case("empty reference bin", [10, 5, 0], [5, 5, 5]),
    counts_case("far apart", [1000, 10, 1], [1, 10, 1000]),
    counts_case("tiny share", [100000, 1, 5], [99000, 0, 1200]),
    counts_case("probabilities", [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]),
]
for case in numeric:
    h = case["sturges"]
    counts.append(counts_case(f"sturges of {case['name']}", h["reference"], h["current"]))
    q = case["quantile10"]
    counts.append(counts_case(f"quantiles of {case['name']}", q["reference"], q["current"]))

categorical = [
    category_case("unseen in current", list("aabbbc"), list("abdde")),
    category_case("same", list("xyzxyz"), list("zyx")),
    category_case("one category", ["only"] * 4, ["only"] * 2),
]
for case in categorical:
    counts.append(counts_case(f"categories of {case['name']}", case["reference_counts"], case["current_counts"]))

z = [
    z_case("equal shares", 50, 100, 25, 50),
    z_case("small shift", 480, 1000, 520, 1000),
    z_case("far", 100, 1000, 900, 1000),
    z_case("tiny", 1, 2, 0, 1),
    z_case("all success", 10, 10, 5, 5),
    z_case("no success", 0, 10, 0, 5),
    z_case("opposite constants", 10, 10, 0, 5),
    z_case("extreme", 10, 100000, 99990, 100000),
]
# A sweep over |z| from 0 to about 7, through every interval of the normal CDF's approximation.
z += [z_case(f"sweep {k}", 500, 1000, k, 1000) for k in range(344, 657, 6)]

# The Kolmogorov distribution behind the asymptotic p-value, across scipy's method regions:
# Ruben-Gambino ends, Durbin matrix, Pomeranz, Pelz-Good and the Smirnov tail.
kstwo = []
for n in [1, 2, 3, 5, 10, 50, 140, 141, 500, 2000, 20_000, 100_000, 150_000, 1_000_000]:
    for nx2 in [0.3, 0.6, 0.75, 1.0, 2.0, 3.0, 4.5, 10.0, 20.0, 100.0, 300.0]:
        x = math.sqrt(nx2 / n)
        if x < 1:
            kstwo.append({"n": n, "x": x, "sf": num(stats.kstwo.sf(x, n))})
    for t in [0.7, 0.95, n - 0.5]:
        if 0 < t / n < 1:
            kstwo.append({"n": n, "x": t / n, "sf": num(stats.kstwo.sf(t / n, n))})
    kstwo.append({"n": n, "x": 0.6, "sf": num(stats.kstwo.sf(0.6, n))})

doc = {
    "generator": "tests/reference/drift.py",
    "versions": {"numpy": np.__version__, "scipy": __import__("scipy").__version__},
    "numeric": numeric,
    "counts": counts,
    "categorical": categorical,
    "z": z,
    "kstwo": kstwo,
}
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
print(f"wrote {OUT.name}: {OUT.stat().st_size} bytes")
