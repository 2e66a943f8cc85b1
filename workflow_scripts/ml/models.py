"""The CWoLa paper's jet-pair CNN (its Table 2).

One sub-network scores each of the two leading-jet images; the event score is
the product of the two sigmoid outputs.  Each jet's image is batch-normalised
on its own before the shared sub-network.  The sub-network is a convolutional
feature extractor (`features`, the paper's Theta) followed by dense layers
(`head`, the paper's theta), so transfer learning can freeze one and reset the
other.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import torch
from torch import nn

from workflow_scripts.core import files


@dataclass(frozen=True)
class CNNSettings:
    """Paper defaults: (conv 64 5x5, pool) x 2, conv 128 3x3, pool, conv 128 3x3, dense 128 x 3, output 1."""

    filters: tuple[int, ...] = (64, 64, 128, 128)
    kernels: tuple[int, ...] = (5, 5, 3, 3)
    pool_after: tuple[bool, ...] = (True, True, True, False)
    dense: tuple[int, ...] = (128, 128, 128)

    def __post_init__(self):
        if not (len(self.filters) == len(self.kernels) == len(self.pool_after)):
            raise ValueError("CNN settings: filters, kernels and pool_after need one entry per convolutional layer")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "CNNSettings":
        return cls(**{key: tuple(value) for key, value in values.items()})


def keras_initialisation(module) -> None:
    """Glorot-uniform weights and zero biases: the Keras defaults the paper trained with."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):  # ScaledConv2d's S and S-bar keep their 1 and 0
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class ScaledConv2d(nn.Conv2d):
    """A convolution with meta-transfer learning's scaling S (per filter and input channel, multiplying the
    filter) and shifting S-bar (per filter, added to the bias), eqs. (5.2)-(5.3) of the CWoLa paper.

    S = 1 and S-bar = 0, their initial values, give exactly the plain convolution.  They are trained only
    in meta-training (`requires_grad` is off otherwise).
    """

    def __init__(self, in_channels, out_channels, kernel_size, **options):
        super().__init__(in_channels, out_channels, kernel_size, **options)
        self.scale = nn.Parameter(torch.ones(out_channels, in_channels), requires_grad=False)
        self.shift = nn.Parameter(torch.zeros(out_channels), requires_grad=False)

    def forward(self, images):
        return self._conv_forward(images, self.weight * self.scale[:, :, None, None], self.bias + self.shift)


class CumulativeBatchNorm(nn.BatchNorm2d):
    """Batch norm whose running statistics are the cumulative average of the batch statistics (momentum None),
    updated with tensor arithmetic alone so that torch.func.vmap can train a stack of them (`fit_ensemble`).

    Same parameters, buffers and state-dict keys as nn.BatchNorm2d.
    """

    def __init__(self, num_features: int, eps: float = 1e-3):
        super().__init__(num_features, eps=eps, momentum=None)

    def forward(self, images):
        if not self.training:
            return nn.functional.batch_norm(images, self.running_mean, self.running_var, self.weight, self.bias,
                                            False, 0.0, self.eps)
        dimensions = (0, 2, 3)
        mean = images.mean(dimensions)
        variance = images.var(dimensions, correction=0)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            values_per_channel = images.numel() // images.shape[1]
            unbiased = variance * (values_per_channel / max(values_per_channel - 1, 1))
            self.running_mean.add_((mean - self.running_mean) / self.num_batches_tracked)
            self.running_var.add_((unbiased - self.running_var) / self.num_batches_tracked)
        shape = (1, -1, 1, 1)
        normalised = (images - mean.view(shape)) * torch.rsqrt(variance.view(shape) + self.eps)
        return normalised * self.weight.view(shape) + self.bias.view(shape)


class JetCNN(nn.Module):
    """Shared sub-network: `features` (convolutions) then `head` (dense layers) map an image (N, 1, npix, npix)
    to one logit; JetPairClassifier runs both jets through it."""

    def __init__(self, npix: int, settings: CNNSettings):
        super().__init__()
        layers, channels, size = [], 1, npix
        for filters, kernel, pool in zip(settings.filters, settings.kernels, settings.pool_after):
            layers += [ScaledConv2d(channels, filters, kernel, padding="same"), nn.ReLU()]
            channels = filters
            if pool:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        if size < 1:
            raise ValueError(f"{npix}x{npix} images are too small for {sum(settings.pool_after)} 2x2 poolings")
        self.features = nn.Sequential(*layers, nn.Flatten())
        dense, width = [], channels * size * size
        for units in settings.dense:
            dense += [nn.Linear(width, units), nn.ReLU()]
            width = units
        self.head = nn.Sequential(*dense, nn.Linear(width, 1))
        self.apply(keras_initialisation)


class JetPairClassifier(nn.Module):
    """Event classifier on (N, 2, npix, npix) images: per-jet batch norm, shared JetCNN, product of sigmoids."""

    def __init__(self, npix: int, settings: CNNSettings = CNNSettings()):
        super().__init__()
        self.npix = npix
        self.settings = settings
        # Keras' epsilon 1e-3.  Its momentum 0.99 would leave the running statistics, which start at 0 and 1, far
        # from the data's after the few hundred steps of a reduced run: unit-intensity pixels (variance ~1e-3)
        # would then be shrunk twentyfold in evaluation.  These norms see the raw images, which never change, so
        # the cumulative average of the batch statistics (momentum None) is exactly what Keras' converges to.
        self.jet_norms = nn.ModuleList([CumulativeBatchNorm(1) for _ in range(2)])
        self.jet_network = JetCNN(npix, settings)

    features_frozen = False

    def freeze_feature_extractor(self) -> None:
        """Transfer learning: the per-jet batch norms and convolutions keep their pretrained values for good
        (no gradients, and the batch norms stay in evaluation mode so their running statistics stay too)."""
        self.features_frozen = True
        for module in (self.jet_norms, self.jet_network.features):
            module.requires_grad_(False)
        self.train(self.training)

    def meta_parameters(self) -> list[nn.Parameter]:
        """Every convolution's scaling and shifting parameters (S and S-bar)."""
        return [parameter for layer in self.jet_network.features if isinstance(layer, ScaledConv2d)
                for parameter in (layer.scale, layer.shift)]

    def _stacked_features(self, images) -> torch.Tensor:
        """Feature-extractor output of the first jets, then the second jets: the shared network sees one batch."""
        first = self.jet_norms[0](images[:, 0:1])
        second = self.jet_norms[1](images[:, 1:2])
        return self.jet_network.features(torch.cat([first, second]))

    def jet_features(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        """The feature extractor's output for each jet (what the dense layers see)."""
        features = self._stacked_features(images)
        return features[: len(images)], features[len(images):]

    @torch.no_grad()
    def pair_features(self, images, batch_size: int = 2000) -> torch.Tensor:
        """(N, 2, F) feature-extractor outputs of both jets, in evaluation mode: what a frozen extractor gives
        the dense layers, computed once so that fine-tuning trains the dense layers alone."""
        was_training = self.training
        self.eval()
        parts = [torch.stack(self.jet_features(batch), dim=1) for batch in images.split(batch_size)]
        self.train(was_training)
        return torch.cat(parts).float()

    def reset_head(self) -> None:
        """Fresh dense layers (the paper's theta), initialised from the current torch random state."""
        self.jet_network.head.apply(keras_initialisation)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.features_frozen:
            self.jet_norms.eval()
        return self

    def jet_logits(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        """One logit per jet; the shared network sees both jets in one batch."""
        logits = self.jet_network.head(self._stacked_features(images)).squeeze(-1)
        return logits[: len(images)], logits[len(images):]

    def forward(self, images):
        """Event score in (0, 1), computed in float32 even under autocast."""
        first, second = self.jet_logits(images)
        return torch.sigmoid(first.float()) * torch.sigmoid(second.float())


class PairHead(nn.Module):
    """The shared dense layers on cached (N, 2, F) jet features, scoring events like JetPairClassifier.forward."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, features):
        logits = self.head(features.flatten(0, 1)).view(len(features), 2).float()
        return torch.sigmoid(logits[:, 0]) * torch.sigmoid(logits[:, 1])


def product_bce(scores, targets, eps: float = 1e-7):
    """Binary cross-entropy of product-of-sigmoid scores (clamped: a product has no logit form)."""
    scores = scores.clamp(eps, 1 - eps)
    return nn.functional.binary_cross_entropy(scores, targets.float())


def save_torch(obj, path) -> None:
    """torch.save, atomically and with the same bytes for the same object on every run.

    Saved to a path, torch's zip archive names its records after the file (`<stem>/data.pkl`) and its
    `.data/serialization_id` record hashes those names, so saving to atomic_output's random temporary name
    gives different bytes each time. Saved to memory, the records are always `archive/...`; the archive's
    timestamps are fixed by torch and the id then depends only on the records.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with files.atomic_output(path) as temporary:
        temporary.write_bytes(buffer.getbuffer())


METADATA_KEY = b"pipeline"


def save_model(model: JetPairClassifier, path, extra: dict) -> None:
    """State dict plus what is needed to rebuild the network, loadable with weights_only=True."""

    save_torch({"state_dict": model.state_dict(), "npix": model.npix, "settings": model.settings.to_dict(), **extra},
                     path)


def load_model(path, device="cpu") -> tuple[JetPairClassifier, dict]:
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        raise OSError(f"cannot load model {path}: {error}") from error
    model = JetPairClassifier(payload["npix"], CNNSettings.from_dict(payload["settings"])).to(device)
    model.load_state_dict(payload["state_dict"])
    return model, payload


def count_flops(npix: int, settings: CNNSettings) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass of one jet through JetCNN."""
    flops, channels, size = 0, 1, npix
    for filters, kernel, pool in zip(settings.filters, settings.kernels, settings.pool_after):
        flops += 2 * size * size * channels * filters * kernel * kernel
        channels = filters
        size = size // 2 if pool else size
    width = channels * size * size
    for units in (*settings.dense, 1):
        flops += 2 * width * units
        width = units
    return flops

