"""Images per second and model FLOP utilisation of CWoLa ensembles (`fit_ensemble`), for the GPU.

Run by hand:  python benchmarks/cwola_gpu_ensembles.py [--npix 25 75] [--members 1 10 90] [--peak-tflops 989]

Trains ensembles of the paper's Table 2 network (filters 64, 64, 128, 128; dense 128 x 3) for one epoch on
random jet images, as `train_cwola` does on a GPU (bfloat16 autocast, members in one vmap step), after a
warm-up epoch, and reports jet images per second and the model FLOP utilisation: training FLOPs (3 x the
forward pass's, `ml.models.count_flops`) per second over the device's dense bf16 peak (`--peak-tflops`; 989 for
an H100 SXM or H200).  From the best rate at the largest resolution it projects the device-hours of the paper
preset's CWoLa trainings from scratch (`presets/paper-cwola.yaml`: 3 resolutions x 2 benchmarks x 9 injections
x 10 trials, all counted at the largest resolution, so an upper bound; fine-tuning on cached features costs a
fraction); trainings, epochs and events per epoch are arguments.  On a CPU the same code runs (float32, members
one after another unless --vectorise), which checks the script, not the GPU.
"""

import argparse
import time

import pandas as pd
import torch

from workflow_scripts.core.devices import resolve_device
from workflow_scripts.ml.fit import FitSettings, MemberData, fit_ensemble
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, count_flops

TABLE_2 = CNNSettings(filters=(64, 64, 128, 128), kernels=(5, 5, 3, 3), pool_after=(True, True, True, False),
                      dense=(128, 128, 128))


def one_epoch(npix: int, n_members: int, events: int, device, settings: FitSettings) -> float:
    """Seconds of one training epoch of `n_members` networks on `events` events each (validation: 500 events)."""
    generator = torch.Generator().manual_seed(npix + n_members)
    pool = torch.rand((events + 500, 2, npix, npix), generator=generator).to(device)
    members = []
    for _ in range(n_members):
        order = torch.randperm(events + 500, generator=generator)
        labels = torch.randint(0, 2, (events + 500,), generator=generator).float()
        members.append(MemberData(order[:events].to(device), labels[:events].to(device), order[events:].to(device),
                                  labels[events:].to(device)))
    models = [JetPairClassifier(npix, TABLE_2).to(device) for _ in range(n_members)]
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fit_ensemble(models, pool, pool, members, settings, list(range(n_members)), log=lambda line: None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npix", type=int, nargs="+", default=[25, 75])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 10, 90])
    parser.add_argument("--events", type=int, default=10_000, help="training events per member and epoch")
    parser.add_argument("--members-per-step", type=int, default=16)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense bf16 peak")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--vectorise", action="store_true", help="on a CPU too (default: on CUDA only)")
    parser.add_argument("--trainings", type=int, default=3 * 2 * 9 * 10, help="CWoLa trainings from scratch to project")
    parser.add_argument("--epochs", type=int, default=60, help="epochs per training to project (patience 30)")
    parser.add_argument("--train-events", type=int, default=60_000,
                        help="training events per epoch to project (B = 25 000 SR and 2B SB, 80 %% for training)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    settings = FitSettings(learning_rate=1e-4, batch_size=500, patience=10, max_epochs=1,
                           vectorise=True if args.vectorise else None, members_per_step=args.members_per_step)
    rows = []
    for npix in args.npix:
        one_epoch(npix, min(args.members), 1000, device, settings)  # warm-up: kernels, allocator
        for n_members in args.members:
            seconds = one_epoch(npix, n_members, args.events, device, settings)
            jets = 2 * n_members * args.events
            flops = 3 * count_flops(npix, TABLE_2) * jets
            rows.append({"device": device.type, "npix": npix, "members": n_members, "seconds": seconds,
                         "jet_images_per_s": jets / seconds, "tflops": flops / seconds / 1e12,
                         "mfu": flops / seconds / 1e12 / args.peak_tflops})
            print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print(table.round(4).to_string(index=False))
    largest = table[table.npix == max(args.npix)].sort_values("jet_images_per_s").iloc[-1]
    hours = args.trainings * args.epochs * 2 * args.train_events / largest.jet_images_per_s / 3600
    print(f"projection at {largest.npix}x{largest.npix} with {largest.members} members per ensemble: {args.trainings} "
          f"trainings x {args.epochs} epochs x {args.train_events} events = {hours:.1f} device-hours")


if __name__ == "__main__":
    main()
