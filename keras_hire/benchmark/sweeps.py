"""Alternating measurement sweeps: every runtime timed in turn, sweep after sweep.

On a shared machine speed moves by 2x from minute to minute. Timing all runtimes once per
sweep, rather than each one to the end before the next, lets a noisy neighbour slow them all
alike, so ratios taken within a sweep (against the GEMM rate, against a peer) stay meaningful.
"""

import numpy as np


def alternate(measures, sweeps, after_sweep=None):
    """`{key: [one value per sweep]}`: calls each `measures[key]()` once per sweep, in order.

    Args:
        measures: `{key: function() -> number}`, e.g. a GEMM rate and interpreter medians.
        sweeps: how many sweeps.
        after_sweep: optional `after_sweep(sweep_index, samples)`, e.g. to log progress.
    """
    if sweeps < 1:
        raise ValueError(f"sweeps must be at least 1, got {sweeps}.")
    samples = {key: [] for key in measures}
    for sweep in range(sweeps):
        for key, measure in measures.items():
            samples[key].append(measure())
        if after_sweep is not None:
            after_sweep(sweep, samples)
    return samples


def medians(samples):
    """`{key: median of its sweeps}`."""
    return {key: float(np.median(values)) for key, values in samples.items()}


def progress(message):
    """Prints a progress line at once (flushed: the benchmarks' output is usually piped to a log)."""
    print(message, flush=True)
