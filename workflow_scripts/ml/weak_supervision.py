"""Weak supervision (learning from label proportions) against full supervision, as batched MLP ensembles.

A *run* is one training configuration repeated over many members: full supervision (per-event labels) or weak
supervision (each dataset labelled with a fraction: dataset A with `label_a`, dataset B with the run's
`label_b`).  Runs sharing a loss train together in one ensemble (`ml.ensemble`); a member's seed depends only on
its run and index, so packing changes nothing but speed.  Both Cohen et al. studies (the toy model and the
gluino search) train through `train_runs`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workflow_scripts.core.devices import resolve_device
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.ml import ensemble, metrics
from workflow_scripts.ml.supervision import SupervisionRun, event_groups, group_targets

WORKING_POINTS = {"bkg_eff_at_sig70": 0.7, "bkg_eff_at_sig40": 0.4}
N_HISTOGRAM_BINS = 80


def evaluate_members(outputs: np.ndarray, labels: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-member metrics, ROC curves on the fixed grid and output histograms.

    Weak supervision can learn the inverted classifier (signal at low output)
    when the labels are ordered against the true fractions; such a member is
    marked class_flipped and evaluated on 1 - output, as the paper does when
    it cuts from above (its Fig. 7).
    """
    # Weakly supervised outputs crowd between the two labels: bin over the range actually filled.
    bins = np.linspace(outputs.min(), outputs.max(), N_HISTOGRAM_BINS + 1)
    rows, rocs, hists = [], [], []
    for member, output in enumerate(outputs):
        auc_raw = metrics.auc(output, labels)
        flipped = auc_raw < 0.5
        score = 1.0 - output if flipped else output
        row = {"member": member, "auc": max(auc_raw, 1.0 - auc_raw), "auc_raw": auc_raw, "class_flipped": flipped}
        row |= {key: metrics.background_efficiency_at(score, labels, eff) for key, eff in WORKING_POINTS.items()}
        rows.append(row)
        rocs.append(pd.DataFrame({"member": member, "fpr": metrics.ROC_FPR_GRID, "tpr": metrics.tpr_on_grid(score, labels)}))
        for truth, name in ((1, "signal"), (0, "background")):
            counts, _ = np.histogram(output[labels == truth], bins=bins)
            hists.append(pd.DataFrame({"member": member, "class": name, "bin_low": bins[:-1], "bin_high": bins[1:], "count": counts}))
    return pd.DataFrame(rows), pd.concat(rocs, ignore_index=True), pd.concat(hists, ignore_index=True)


def train_runs(
    table: pd.DataFrame,
    runs: list[SupervisionRun],
    settings: ensemble.TrainingSettings,
    n_members: int,
    label_a: float,
    global_seed: int,
    device: str = "auto",
    compile_step: bool = False,
    log=print,
    *,
    feature_columns,
    seed_namespace: str = "cohen2018_toy",
):
    """Train n_members networks for each run, all runs in one ensemble (they must share the loss).

    Member m of run r is seeded by (global seed, r, m) alone, so packing runs
    together changes nothing but speed.  Returns the ensemble, its input
    standardiser, the test outputs (runs * n_members, N_test), the validation
    losses and the member seeds, members ordered run by run.
    """
    if len({run.loss for run in runs}) != 1 or settings.loss != runs[0].loss:
        raise ValueError(f"runs trained together must share the loss {settings.loss!r}: {[run.name for run in runs]}")
    train, val, test = (table[table["split"] == split] for split in ("train", "val", "test"))
    if len(train) == 0 or len(test) == 0:
        raise ValueError("the table has no training or no test events")
    columns = list(feature_columns)
    scaler = ensemble.Standardiser.fit(train[columns].to_numpy())
    x_train, x_val, x_test = (scaler.transform(sample[columns].to_numpy()) for sample in (train, val, test))
    targets = np.repeat([group_targets(run, label_a) for run in runs], n_members, axis=0)
    member_seeds = [derive_seed(global_seed, seed_namespace, run.name, member) for run in runs for member in range(n_members)]
    device = resolve_device(device)
    backend = ensemble.resolve_backend("auto", device)
    log(f"training {len(member_seeds)} networks ({', '.join(run.name for run in runs)}) on {len(train)} events"
        f" ({device}, {'compiled CPU kernel' if backend == 'kernel' else 'torch step'})")
    trained = ensemble.train_ensemble(
        x_train,
        event_groups(train),
        targets,
        settings,
        member_seeds,
        device=device,
        backend=backend,
        compile_step=compile_step,
        progress=lambda epoch: log(f"epoch {epoch + 1}/{settings.epochs} done"),
    )
    val_loss = np.full(len(member_seeds), np.nan)
    if len(val):
        val_loss = ensemble.evaluate_loss(trained, x_val, event_groups(val), targets, settings.loss)
    outputs = trained.predict(x_test).cpu().numpy()
    return trained, scaler, outputs, val_loss, member_seeds
