"""A cheap stand-in for the proxy training in tests of the enlarging search (`--trial_function`).

Scores a candidate by a fixed function of its state (deeper stage 3 and wider stage 5 help, resolution
hurts), logs every call with its process id to `<model_dir>/calls.log`, and records the trial through
the real `write_record`. `ENLARGE_STUB_CRASH_AT=N` raises at the N-th call of a search (counted in
its calls.log), before logging and recording, as a killed worker would stop.
"""

import os
import time

from keras_hire.methods.enlarging.trials import write_record


def stub_accuracy(state):
    depths, channels = state.stage_depths, state.stage_channels
    return 0.5 + 0.02 * depths[3] + 0.001 * channels[5] - 0.002 * (state.resolution - 32) + 0.0001 * channels[1]


def score_trial(config, step, key, state, num_classes):
    log_path = os.path.join(config.train.model_dir, "calls.log")
    calls = open(log_path).read().count("\n") if os.path.exists(log_path) else 0
    if calls + 1 == int(os.environ.get("ENLARGE_STUB_CRASH_AT", "0")):
        raise RuntimeError("stub: killed before recording")
    with open(log_path, "a") as log:
        log.write(f"{step} {key} {os.getpid()}\n")
    time.sleep(float(os.environ.get("ENLARGE_STUB_SECONDS", "0")))
    return write_record(config, step, key, state, num_classes, stub_accuracy(state))
