"""Greedy network enlarging (Liu et al., arXiv 2108.00177): grow a GhostNet one MAC increment at a time.

Each step prices every candidate (one stage deeper, one stage wider, or a larger input; each about
one increment), trains each briefly on the shared trainer, keeps the best by validation accuracy,
and repeats until the MAC target. Every finished trial is recorded atomically, so a killed search
started again with the same flags reruns only the unfinished trials (which resume from their own
checkpoints).
"""

import json
import os

from keras_hire.methods.enlarging.config import DEFAULT_TRIAL, RESUMABLE_CHANGES
from keras_hire.methods.enlarging.distributed import STUDY_PREFIX, prepare_step, run_workers
from keras_hire.methods.enlarging.space import base_state, candidates, largest_state
from keras_hire.methods.enlarging.trials import read_record
from keras_hire.utils.atomic import atomic_write_json


def search_dir(config):
    return os.path.join(config.train.model_dir, "search")


def check_base(config):
    """The base GhostNet, built; unknown or non-GhostNet names fail naming the ones that work."""
    from keras_hire.models import GhostNet, create_model, list_models

    names = [n for n in list_models() if "ghostnet" in n]
    if config.base not in names:
        raise ValueError(f"EnlargeConfig.base={config.base!r}: not a GhostNet registry name. Fix: use one of "
                         f"{', '.join(names)} (and --model_kwargs for its stage_channels/stage_depths/width).")
    from keras_hire.models import model_info

    size = config.train.image_size or model_info(config.base).input_size[0]
    model = create_model(config.base, **{**(config.train.model_kwargs or {}), "input_shape": (size, size, 3),
                                         "num_classes": 10})
    assert isinstance(model, GhostNet)
    return model


def check_resume(config):
    """Writes the search's identity, or fails when a resumed search has other flags (records are kept)."""
    path = os.path.join(search_dir(config), "identity.json")
    identity = _identity(config)
    if os.path.exists(path):
        with open(path) as handle:
            recorded = json.load(handle)
        changed = sorted(key for key in set(recorded) | set(identity) if recorded.get(key) != identity.get(key))
        if changed:
            details = "; ".join(f"{key}: recorded {recorded.get(key)!r}, now {identity.get(key)!r}" for key in changed)
            raise ValueError(
                f"The search in {search_dir(config)} was started with other settings ({details}). Its finished "
                "trials are kept. Fix: rerun with the recorded flags to resume it, or pass a new --model_dir.")
    else:
        atomic_write_json(path, identity)


def _identity(config):
    flat = {}

    def walk(prefix, values):
        for key, value in values.items():
            if isinstance(value, dict) and key != "model_kwargs":
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    walk("", json.loads(json.dumps(config.to_dict())))
    if flat.get("trial_function") == DEFAULT_TRIAL:
        del flat["trial_function"]  # absent from searches started before the field existed
    return {key: value for key, value in flat.items() if key not in RESUMABLE_CHANGES}


def plan_checks(config, base, num_classes):
    """Fails before any training when the target is below the base or out of the search space's reach."""
    base_macs = base.macs(num_classes)
    if config.target_macs <= base_macs:
        raise ValueError(f"EnlargeConfig.target_macs={config.target_macs:.4g}: not above the base's "
                         f"{base_macs:,} MACs ({config.base} at {base.resolution} px). Fix: pass a larger target, "
                         f"e.g. --target_macs={4 * base_macs}.")
    largest = largest_state(base, config.max_depth, config.max_channels, config.max_resolution).macs(num_classes)
    if largest < config.target_macs:
        raise ValueError(f"EnlargeConfig.target_macs={config.target_macs:.4g}: the search space holds at most "
                         f"{largest:,} MACs (max_depth={config.max_depth}, max_channels={config.max_channels}, "
                         f"max_resolution={config.max_resolution}). Fix: raise those limits or lower the target.")
    return base_macs


def greedy_search(config, num_classes):
    """Runs (or resumes) the search; returns `{"base", "path": [step records], "final_state"}`."""
    from keras_hire.methods.enlarging.space import EnlargeState

    state = base_state(check_base(config))
    base_macs = plan_checks(config, state, num_classes)
    check_resume(config)  # after the input checks: a refused run leaves no identity behind
    increment = config.increment * base_macs
    path, step = [], 0
    while state.macs(num_classes) < config.target_macs - 0.5 * increment:
        options = candidates(state, increment, num_classes, config.max_depth, config.max_channels,
                             config.max_resolution, config.stages)
        if not options:
            raise ValueError(
                f"Step {step}: no candidate adds about {increment:,.0f} MACs within the limits (max_depth="
                f"{config.max_depth}, max_channels={config.max_channels}, max_resolution={config.max_resolution}); "
                f"the search stopped at {state.macs(num_classes):,} of {config.target_macs:,.0f} MACs. Recorded "
                "trials are kept. Fix: raise the limits and rerun the same command.")
        pending = {key: s for key, s in options.items() if read_record(config, step, key) is None}
        if pending:
            prepare_step(config, step, options, pending)
            run_workers(config, f"{STUDY_PREFIX}{step:02d}", num_classes)
        trials = [read_record(config, step, key) for key in sorted(options)]
        missing = [key for key, record in zip(sorted(options), trials) if record is None]
        if missing:
            raise RuntimeError(f"Step {step}: trials {missing} did not finish; rerun the same command to resume.")
        best = max(trials, key=lambda r: (r["accuracy"], -r["macs"]))  # ties: the cheaper model
        state = EnlargeState.from_dict(best["state"])
        path.append({"step": step, "chosen": best["key"], "accuracy": best["accuracy"], "macs": best["macs"],
                     "stage_macs": state.stage_macs(num_classes), "trials": trials})
        atomic_write_json(os.path.join(search_dir(config), "path.json"), path)
        _log(f"step {step}: {best['key']} -> {best['macs']:,} MACs, accuracy {best['accuracy']:.4f} "
             f"({len(trials)} candidates)")
        step += 1
    return {"base": base_state_record(config, num_classes), "path": path, "final_state": state.to_dict()}


def base_state_record(config, num_classes):
    state = base_state(check_base(config))
    return {"state": state.to_dict(), "macs": state.macs(num_classes), "stage_macs": state.stage_macs(num_classes)}


def _log(message):
    print(f"[enlarge] {message}", flush=True)
