"""Shared test inputs: toy jet images that a small CNN can tell apart."""

import numpy as np
import pytest
import torch


def make_prong_images(n, two_prong, rng, npix=16):
    """Toy jets: one hard pixel (background) or two separated hard pixels (signal), with noise."""
    images = rng.exponential(0.2, size=(n, 2, npix, npix)).astype(np.float32)
    images[:, :, npix // 2, npix // 2] += 50.0
    if two_prong:
        images[:, :, npix // 2, npix // 2 + 4] += 30.0
    return images


def make_toy_data(rng, n=400):
    x = np.concatenate([make_prong_images(n, False, rng), make_prong_images(n, True, rng)])
    y = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


@pytest.fixture
def prong_images():
    return make_prong_images


@pytest.fixture
def toy_data():
    return make_toy_data
