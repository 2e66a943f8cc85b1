"""Ensemble training throughput against training the same networks one after another.

The baseline is the usual PyTorch loop for one network (nn.Sequential,
autograd, torch.optim.Adam, a shuffled batch per step), run network after
network; the ensembles train many networks at once, with the batched torch
step (eager, or fused with torch.compile) or with the compiled CPU kernel
(workflow_scripts/ml/_mlp_kernel.c), which is what the pipeline uses on a CPU.

Run by hand:  python benchmarks/ensemble_throughput.py [--events 64000] [--members 100 600] [--compile]

Measures network-steps per second (one optimizer step of one 3-30-1 network on
a batch of 32) for the toy study's networks, and projects the wall time of the
paper's full scan (11 labels x 100 trainings, 320 000 training events, batch 32,
100 epochs: 1.1e9 network-steps) on this machine's cores.
"""

import argparse
import os
import time

import numpy as np
import torch

from workflow_scripts.ml import ensemble
from workflow_scripts.studies.cohen2018_toy import toy_model

PAPER_SCAN_NETWORK_STEPS = 11 * 100 * (320_000 // 32) * 100


def sequential_rate(x, groups, epochs=2):
    """Network-steps per second of one network trained the usual way (timed after the first epoch)."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(3, 30), torch.nn.Sigmoid(), torch.nn.Linear(30, 1), torch.nn.Sigmoid())
    optimizer = torch.optim.Adam(network.parameters(), lr=1.5e-3, eps=1e-7)
    x = torch.as_tensor(x)
    targets = torch.as_tensor(np.where(groups == 1, 0.7, 0.4), dtype=torch.float32).unsqueeze(1)
    loss_function = torch.nn.BCELoss()
    times = []
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            index = order[start : start + 32]
            optimizer.zero_grad()
            loss_function(network(x[index]), targets[index]).backward()
            optimizer.step()
        times.append(time.perf_counter())
    return (len(x) // 32) * (len(times) - 1) / (times[-1] - times[0])


def rate(x, groups, members, backend, compile_step=False, epochs=3):
    """Steady-state network-steps per second, shuffles included (the first epoch, with any compilation, is not timed)."""
    times = []
    ensemble.train_ensemble(
        x, groups, np.tile([0.4, 0.7], (members, 1)), ensemble.TrainingSettings(epochs=epochs), list(range(members)),
        backend=backend, compile_step=compile_step, progress=lambda epoch: times.append(time.perf_counter()),
    )
    steps_per_epoch = len(x) // 32
    return members * steps_per_epoch * (len(times) - 1) / (times[-1] - times[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=64_000)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--compile", action="store_true", help="also measure the torch.compile'd step")
    args = parser.parse_args()
    cores = os.cpu_count()
    rng = np.random.default_rng(0)
    x_a, _ = toy_model.sample_mixture(args.events // 2, 0.4, rng)
    x_b, _ = toy_model.sample_mixture(args.events // 2, 0.7, rng)
    x = ensemble.Standardiser.fit(np.r_[x_a, x_b]).transform(np.r_[x_a, x_b])
    groups = np.r_[np.zeros(args.events // 2, np.int64), np.ones(args.events // 2, np.int64)]

    torch.set_num_threads(1)
    sequential = sequential_rate(x, groups)
    print(f"sequential (plain PyTorch loop, one network at a time, 1 thread): {sequential:,.0f} network-steps/s")
    print(f"  paper scan on {cores} cores (one process per core): {PAPER_SCAN_NETWORK_STEPS / sequential / cores / 3600:.1f} h")
    modes = [("kernel", False), ("torch", False)] + ([("torch", True)] if args.compile else [])
    for backend, compile_step in modes:
        for members in args.members:
            measured = rate(x, groups, members, backend, compile_step)
            label = "compiled CPU kernel" if backend == "kernel" else ("torch, compiled" if compile_step else "torch, eager")
            print(
                f"ensemble of {members:4d} ({label}, 1 thread): {measured:,.0f} network-steps/s"
                f" = {measured / sequential:.1f}x sequential;"
                f" paper scan on {cores} cores: {PAPER_SCAN_NETWORK_STEPS / measured / cores / 60:.0f} min"
            )


if __name__ == "__main__":
    main()
