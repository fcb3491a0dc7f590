"""Predicted transfer gain and probability of helping, from what an index knows.

A ranking by cosine orders candidate sources; it does not say whether the best of them
helps at all, and on held-out targets most sources hurt. This module turns a target's
cosines to its candidates (plus, where measured, each source's record on other targets)
into two numbers per candidate, calibrated on measured transfer:

- ``predicted_gain``: expected target score after the source minus the target alone;
- ``p_help``: probability that the gain is positive.

The models are deliberately small: a ridge regression for the gain and an L2 logistic
regression for ``p_help`` over a handful of features, with the coefficients of the
features that should only raise the prediction (standardised cosine, cosine, the source's
prior) held non-negative. They are fit by :func:`fit_predictor` and judged leave one
target out by ``benchmarks/transfer_prediction.py`` (docs/evaluation.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fute.errors import ConfigError

#: Feature names, in column order. ``z_log_norm``: the log of the L2 norm of each
#: candidate's stored (unnormalised) vector, standardised within the candidate set; it is
#: known for every indexed task, where a prior is known only for measured ones.
#: ``target_rel_log_norm``: the log norm of the target's own vector minus the candidates'
#: mean log norm, one value for the whole set (a target-level signal: how much transfer
#: helps this target at all); unknown (NaN) reads as the training mean, i.e. no signal.
FEATURES: tuple[str, ...] = (
    "z_cosine",
    "cosine",
    "target_max_cosine",
    "source_prior",
    "has_prior",
    "z_log_norm",
    "target_rel_log_norm",
)
#: Features whose coefficient must not be negative: more similar, or a source with a better
#: record, never predicts less.
MONOTONE: tuple[str, ...] = ("z_cosine", "cosine", "source_prior")
PACKAGED = "transfer_predictor.json"
#: A candidate "is expected to help" when its P(help) reaches this; a ranking where none
#: does advises training on the target alone.
HELP_THRESHOLD = 0.5
#: Named feature subsets the benchmark compares leave one target out; the packaged
#: predictor records the one it was fit with.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "z": ("z_cosine",),
    "z+cos": ("z_cosine", "cosine"),
    "z+cos+target": ("z_cosine", "cosine", "target_max_cosine"),
    "z+prior": ("z_cosine", "source_prior", "has_prior"),
    "z+cos+prior": ("z_cosine", "cosine", "source_prior", "has_prior"),
    "z+norm": ("z_cosine", "z_log_norm"),
    "z+prior+norm": ("z_cosine", "source_prior", "has_prior", "z_log_norm"),
    "z+cos+prior+norm": ("z_cosine", "cosine", "source_prior", "has_prior", "z_log_norm"),
    "z+prior+tnorm": ("z_cosine", "source_prior", "has_prior", "target_rel_log_norm"),
    "z+cos+prior+tnorm": ("z_cosine", "cosine", "source_prior", "has_prior", "target_rel_log_norm"),
    "z+cos+prior+norm+tnorm": (
        "z_cosine",
        "cosine",
        "source_prior",
        "has_prior",
        "z_log_norm",
        "target_rel_log_norm",
    ),
    "all": FEATURES,
}


def _standardised(v: np.ndarray) -> np.ndarray:
    """``v`` minus its mean over its standard deviation; zeros when it does not vary."""
    sd = float(v.std())
    return (v - v.mean()) / sd if len(v) > 1 and sd > 1e-9 else np.zeros(len(v))


def candidate_features(
    cosines: np.ndarray,
    priors: np.ndarray | None = None,
    norms: np.ndarray | None = None,
    target_norm: float | None = None,
) -> np.ndarray:
    """The feature matrix (candidates x :data:`FEATURES`) of one target's candidate set.

    ``cosines[i]``: cosine of the target with candidate i (every candidate of the
    ranking, not only the returned top k, since standardisation is over the set).
    ``priors[i]``: the candidate's mean measured gain on other targets, NaN where unknown.
    ``norms[i]``: the L2 norm of the candidate's stored vector; None (or non-positive
    values anywhere) gives ``z_log_norm`` 0 for all, which no fit can read as a signal.
    ``target_norm``: the L2 norm of the target's (unnormalised) vector, in the same space;
    with usable ``norms`` it gives ``target_rel_log_norm``, else that column is NaN
    (imputed by the predictor as its training mean).
    """
    c = np.asarray(cosines, np.float64).reshape(-1)
    n = len(c)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    p = np.full(n, np.nan) if priors is None else np.asarray(priors, np.float64).reshape(-1)
    if len(p) != n:
        raise ConfigError(f"{len(p)} priors for {n} candidates")
    known = np.isfinite(p)
    log_norm = np.zeros(n)
    target_rel = math.nan
    if norms is not None:
        r = np.asarray(norms, np.float64).reshape(-1)
        if len(r) != n:
            raise ConfigError(f"{len(r)} norms for {n} candidates")
        if np.all(np.isfinite(r) & (r > 0)):
            log_r = np.log(r)
            log_norm = _standardised(log_r)
            if target_norm is not None and math.isfinite(target_norm) and target_norm > 0:
                target_rel = math.log(target_norm) - float(log_r.mean())
    return np.column_stack(
        [
            _standardised(c),
            c,
            np.full(n, c.max()),
            np.where(known, p, 0.0),
            known.astype(np.float64),
            log_norm,
            np.full(n, target_rel),
        ]
    )


@dataclass(frozen=True)
class TransferPredictor:
    """Calibrated maps from :func:`candidate_features` to predicted gain and P(help).

    Attributes:
        mean, scale: per-feature standardisation learnt on the training pairs.
        gain_coef, gain_intercept: the ridge model of the gain.
        help_coef, help_intercept: the logistic model of P(gain > 0).
        fitted_on: provenance (ground truth, space, targets, pairs, features used).
        source_priors: measured mean gain of known sources over the ground truth's
            targets, by task id; a candidate not listed has no prior.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    gain_coef: tuple[float, ...]
    gain_intercept: float
    help_coef: tuple[float, ...]
    help_intercept: float
    fitted_on: dict[str, Any]
    source_priors: dict[str, float] = field(default_factory=dict)

    def _standard(self, x: np.ndarray) -> np.ndarray:
        x = _impute_unknown(_impute_prior(x, self.mean[_PRIOR]), np.asarray(self.mean))
        out: np.ndarray = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return out

    @property
    def reads_norms(self) -> bool:
        """Whether predictions use vector norms (``z_log_norm``, ``target_rel_log_norm``),
        so that a caller without them at hand knows to fetch them."""
        cols = [FEATURES.index(n) for n in ("z_log_norm", "target_rel_log_norm")]
        return any(self.gain_coef[c] != 0 or self.help_coef[c] != 0 for c in cols)

    def priors_of(self, ids: list[str]) -> np.ndarray:
        """The recorded prior of each candidate id, NaN where none is recorded."""
        return np.array([self.source_priors.get(i, np.nan) for i in ids], np.float64)

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predicted gain, P(help)) per row of ``features``."""
        xs = self._standard(features)
        gain = xs @ np.asarray(self.gain_coef) + self.gain_intercept
        logit = xs @ np.asarray(self.help_coef) + self.help_intercept
        return gain, 1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40)))

    def predict_cosines(
        self,
        cosines: np.ndarray,
        priors: np.ndarray | None = None,
        norms: np.ndarray | None = None,
        target_norm: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` on the features of one target's candidate set."""
        return self.predict(candidate_features(cosines, priors, norms, target_norm))

    def to_json(self) -> str:
        """Serialise (what :func:`load_predictor` reads)."""
        return json.dumps({"features": list(FEATURES), **asdict(self)}, indent=1, sort_keys=True)


def load_predictor(path: str | Path | None = None) -> TransferPredictor:
    """A predictor from a JSON file; the packaged one (fit on the suite) by default.

    Columns are matched by feature name, so a file written before a feature existed still
    loads: the features it lacks get coefficient 0 (it never used them).

    Raises:
        ConfigError: the file names a feature this version does not know, or its columns
            do not match its feature list.
    """
    if path is None:
        text = resources.files("fute.resources").joinpath(PACKAGED).read_text()
        where = f"packaged {PACKAGED}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot read the transfer predictor ({exc.strerror or exc})"
            ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a transfer predictor is a JSON object, got {type(raw).__name__}")
    names = list(raw.pop("features", ()))
    missing = sorted(
        {"mean", "scale", "gain_coef", "gain_intercept", "help_coef", "help_intercept", "fitted_on"}
        - set(raw)
    )
    if missing:
        raise ConfigError(f"{where}: transfer predictor lacks fields {missing}")
    unknown = sorted(set(names) - set(FEATURES))
    if unknown or not names:
        raise ConfigError(f"{where}: features {names} are not among this version's {list(FEATURES)}")
    columns = ("mean", "scale", "gain_coef", "help_coef")
    if any(len(raw[c]) != len(names) for c in columns):
        raise ConfigError(f"{where}: {columns} must each hold one value per feature of {names}")
    absent = {"mean": 0.0, "scale": 1.0, "gain_coef": 0.0, "help_coef": 0.0}

    def column(key: str) -> tuple[float, ...]:
        by_name = dict(zip(names, raw[key], strict=True))
        return tuple(float(by_name.get(f, absent[key])) for f in FEATURES)

    return TransferPredictor(
        mean=column("mean"),
        scale=column("scale"),
        gain_coef=column("gain_coef"),
        gain_intercept=float(raw["gain_intercept"]),
        help_coef=column("help_coef"),
        help_intercept=float(raw["help_intercept"]),
        fitted_on=dict(raw["fitted_on"]),
        source_priors={str(k): float(v) for k, v in raw.get("source_priors", {}).items()},
    )


_PRIOR, _HAS_PRIOR = FEATURES.index("source_prior"), FEATURES.index("has_prior")


def _impute_prior(features: np.ndarray, value: float) -> np.ndarray:
    """A copy of ``features`` whose unknown priors read ``value``.

    An unknown prior counts as the average known one, not as a gain of 0: most sources
    hurt, so 0 would rank every unmeasured source above the measured ones.
    """
    x = np.array(features, np.float64)
    x[x[:, _HAS_PRIOR] == 0, _PRIOR] = value
    return x


def _impute_unknown(features: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy of ``features`` whose NaN cells (a feature unknown for that target, such as
    ``target_rel_log_norm`` without norms) read the column's ``values``: no signal."""
    x = np.array(features, np.float64)
    rows, cols = np.nonzero(~np.isfinite(x))
    x[rows, cols] = values[cols]
    return x


def _monotone_mask() -> np.ndarray:
    return np.array([name in MONOTONE for name in FEATURES])


def _ridge(x: np.ndarray, y: np.ndarray, l2: float, free: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares with an L2 penalty on the coefficients of the ``free`` columns only."""
    coef = np.zeros(x.shape[1])
    if free.any():
        xf = x[:, free]
        xc, yc = xf - xf.mean(0), y - y.mean()
        coef[free] = np.linalg.solve(xc.T @ xc + l2 * np.eye(xf.shape[1]), xc.T @ yc)
    return coef, float(y.mean() - x.mean(0) @ coef)


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, free: np.ndarray) -> tuple[np.ndarray, float]:
    """L2 logistic regression by Newton's method on the ``free`` columns."""
    xf = np.column_stack([x[:, free], np.ones(len(x))])
    w = np.zeros(xf.shape[1])
    penalty = np.eye(xf.shape[1]) * l2
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(xf @ w, -40, 40)))
        grad = xf.T @ (p - y) + penalty @ w
        hess = (xf * (p * (1 - p))[:, None]).T @ xf + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    coef = np.zeros(x.shape[1])
    coef[free] = w[:-1]
    return coef, float(w[-1])


def _fit_monotone(
    fit: Any, x: np.ndarray, y: np.ndarray, l2: float, usable: np.ndarray
) -> tuple[np.ndarray, float]:
    """Fit, then drop monotone features that came out negative and refit (an active set)."""
    free = usable.copy()
    mono = _monotone_mask()
    while True:
        coef, intercept = fit(x, y, l2, free)
        wrong = free & mono & (coef < 0)
        if not wrong.any():
            return coef, intercept
        free &= ~wrong


def fit_predictor(
    features: np.ndarray,
    gains: np.ndarray,
    *,
    use: tuple[str, ...] = FEATURES,
    l2: float = 1.0,
    fitted_on: dict[str, Any] | None = None,
    source_priors: dict[str, float] | None = None,
) -> TransferPredictor:
    """Fit both models on pairs (rows of ``features``) with measured ``gains``.

    Only the features named in ``use`` enter; the others, and features constant over the
    training pairs (say, no prior anywhere), get a zero coefficient. Guarantees:
    coefficients of :data:`MONOTONE` features are >= 0.
    """
    unknown = sorted(set(use) - set(FEATURES))
    if unknown:
        raise ConfigError(f"unknown features {unknown}; valid: {list(FEATURES)}")
    x = np.asarray(features, np.float64)
    y = np.asarray(gains, np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURES) or len(x) != len(y) or len(y) < 2:
        raise ConfigError(f"need >= 2 pairs of {len(FEATURES)} features, got {x.shape} and {y.shape}")
    measured = x[:, _HAS_PRIOR] == 1
    if measured.any():  # standardised, an unknown prior is then exactly the average one
        x = _impute_prior(x, float(x[measured, _PRIOR].mean()))
    known = np.isfinite(x)
    column_means = np.array(
        [float(x[known[:, j], j].mean()) if known[:, j].any() else 0.0 for j in range(x.shape[1])]
    )
    x = _impute_unknown(x, column_means)  # unknown target norms: the average, no signal
    mean = x.mean(0)
    scale = x.std(0)
    usable = (scale > 1e-12) & np.array([name in use for name in FEATURES])
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = (x - mean) / scale
    gain_coef, gain_b = _fit_monotone(_ridge, xs, y, l2, usable)
    helps = (y > 0).astype(np.float64)
    if helps.min() == helps.max():  # one class only: a constant probability
        help_coef, help_b = (
            np.zeros(len(FEATURES)),
            float(math.log((helps.mean() + 0.5) / (1.5 - helps.mean()))),
        )
    else:
        help_coef, help_b = _fit_monotone(_logistic, xs, helps, l2, usable)
    return TransferPredictor(
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        gain_coef=tuple(float(v) for v in gain_coef),
        gain_intercept=gain_b,
        help_coef=tuple(float(v) for v in help_coef),
        help_intercept=help_b,
        fitted_on={"features_used": list(use), **(fitted_on or {})},
        source_priors=dict(source_priors or {}) if "source_prior" in use else {},
    )


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN without both classes."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(positive, bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def brier(p: np.ndarray, positive: np.ndarray) -> float:
    """Mean squared error of probabilities against outcomes (0 is perfect, 0.25 a coin)."""
    return float(np.mean((np.asarray(p, np.float64) - np.asarray(positive, np.float64)) ** 2))


def reliability(p: np.ndarray, positive: np.ndarray, bins: int = 5) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) per equal-width probability bin with pairs."""
    p = np.asarray(p, np.float64)
    y = np.asarray(positive, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return [
        (float(p[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]
