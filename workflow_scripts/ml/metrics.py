"""Classifier figures of merit: ROC curves, AUC, efficiencies at working points."""

from __future__ import annotations

import numpy as np

# Fixed false-positive-rate grid on which ROC curves are stored, so curves of
# many trainings can be averaged or banded without keeping their scores.
ROC_FPR_GRID = np.unique(np.concatenate([np.logspace(-5, 0, 121), np.linspace(0.0, 1.0, 101)]))
# Signal efficiencies at which ROC curves are stored for significance improvement curves.
SIC_SIGNAL_GRID = np.round(np.linspace(0.01, 1.0, 100), 2)


def _check(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be equal 1-d shapes")
    if labels.all() or not labels.any():
        raise ValueError("ROC needs both signal (label 1) and background (label 0) events")
    return scores, labels


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) for every distinct cut `score >= c`, from (0, 0) to (1, 1)."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    true_pos = np.cumsum(labels)
    false_pos = np.cumsum(~labels)
    # Keep only the last entry of each run of tied scores: a cut cannot split ties.
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]
    tpr = np.r_[0.0, true_pos[last_of_tie] / true_pos[-1]]
    fpr = np.r_[0.0, false_pos[last_of_tie] / false_pos[-1]]
    return fpr, tpr


def auc(scores, labels) -> float:
    """Area under the ROC curve: the probability that signal scores above background (ties count half)."""
    fpr, tpr = roc_curve(scores, labels)
    return float(np.trapezoid(tpr, fpr))


def tpr_on_grid(scores, labels, fpr_grid=ROC_FPR_GRID) -> np.ndarray:
    """True positive rate interpolated at fixed false positive rates."""
    fpr, tpr = roc_curve(scores, labels)
    return np.interp(fpr_grid, fpr, tpr)


def background_efficiency_at(scores, labels, signal_efficiency: float) -> float:
    """Background efficiency of the tightest cut that keeps at least `signal_efficiency` of the signal."""
    fpr, tpr = roc_curve(scores, labels)
    return float(fpr[min(np.searchsorted(tpr, signal_efficiency, side="left"), len(fpr) - 1)])


def background_efficiency_on_grid(scores, labels, signal_grid=SIC_SIGNAL_GRID) -> np.ndarray:
    """`background_efficiency_at` for every signal efficiency of the grid."""
    fpr, tpr = roc_curve(scores, labels)
    return fpr[np.minimum(np.searchsorted(tpr, np.asarray(signal_grid), side="left"), len(fpr) - 1)]


def significance_improvement(signal_efficiency, background_efficiency):
    """SIC = eps_s / sqrt(eps_b): the factor by which a cut multiplies S/sqrt(B); NaN where no background passes."""
    signal_efficiency = np.asarray(signal_efficiency, dtype=np.float64)
    background_efficiency = np.asarray(background_efficiency, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(background_efficiency > 0, signal_efficiency / np.sqrt(background_efficiency), np.nan)


def signal_efficiency_at(scores, labels, background_efficiency: float) -> float:
    """Signal efficiency of the loosest cut that keeps at most `background_efficiency` of the background."""
    fpr, tpr = roc_curve(scores, labels)
    return float(tpr[np.searchsorted(fpr, background_efficiency, side="right") - 1])


def discovery_significance(n_signal, n_background):
    """Asimov discovery significance sqrt(2((s + b) ln(1 + s/b) - s)) (CWoLa paper eq. 3.1); ~ s/sqrt(b) for s << b."""
    s = np.asarray(n_signal, dtype=np.float64)
    b = np.asarray(n_background, dtype=np.float64)
    if np.any(b <= 0) or np.any(s < 0):
        raise ValueError("significance needs n_background > 0 and n_signal >= 0")
    return np.sqrt(2.0 * ((s + b) * np.log1p(s / b) - s))


def threshold_keeping(scores, weights, fraction: float) -> float:
    """The tightest cut `score >= c` whose passing events carry at least `fraction` of the summed weight.

    With cross-section weights this is a cut at fixed signal cross section; ties at the cut all pass.
    """
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if scores.shape != weights.shape or scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"scores {scores.shape} and weights {weights.shape} must be equal non-empty 1-d shapes")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    order = np.argsort(-scores, kind="stable")
    kept = np.cumsum(weights[order])
    index = min(int(np.searchsorted(kept, fraction * kept[-1] * (1 - 1e-12), side="left")), len(kept) - 1)
    return float(scores[order][index])
