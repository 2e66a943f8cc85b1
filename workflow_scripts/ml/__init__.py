"""Machine learning shared by every study: networks, fitting with early stopping, batched ensembles, metrics."""
