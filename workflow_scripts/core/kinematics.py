"""Angular helpers shared by the detector simulation, the converter and the jet images."""

from __future__ import annotations

import numpy as np


def wrap_phi(delta):
    """An azimuthal difference folded into [-pi, pi); works on numpy and awkward arrays."""
    return (delta + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1, phi1, eta2, phi2):
    """Distance in (eta, phi), with the azimuthal difference wrapped."""
    return np.sqrt((eta1 - eta2) ** 2 + wrap_phi(phi1 - phi2) ** 2)
