"""A step's candidate trainings spread over worker processes through an Optuna study on shared storage.

Each step is one study: the coordinator enqueues every unfinished candidate as a fixed trial;
workers (`python -m keras_hire.methods.enlarging.worker`, here or on other machines sharing the
storage) pop WAITING trials, which Optuna hands to exactly one worker, train them and tell the
accuracy. The trial records (`trials.py`) stay the source of truth for resuming.
"""

import os
import subprocess
import sys

STUDY_PREFIX = "enlarge_step_"


def open_storage(spec):
    """An RDB URL as is; anything else is a journal file (file locks: one machine or a shared disk)."""
    import optuna

    if "://" in spec:
        return spec
    os.makedirs(os.path.dirname(os.path.abspath(spec)), exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(spec))


def storage_spec(config):
    return config.storage or os.path.join(config.train.model_dir, "search", "optuna.journal")


def prepare_step(config, step, keys, pending):
    """Creates (or reopens) the step's study and enqueues each pending `{key: state}` not already queued.

    `keys` are all the step's candidates: the categorical choice space, the same on every resume."""
    import optuna

    study = optuna.create_study(study_name=f"{STUDY_PREFIX}{step:02d}", storage=open_storage(storage_spec(config)),
                                direction="maximize", load_if_exists=True)
    study.set_user_attr("config", config.to_dict())
    study.set_user_attr("step", step)
    study.set_user_attr("candidates", sorted(keys))
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)  # a killed worker's trial: its record decides
    queued = {t.user_attrs.get("key") for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))}
    for key, state in sorted(pending.items()):
        if key not in queued:
            study.enqueue_trial({"candidate": key}, user_attrs={"key": key, "state": state.to_dict()})
    return study


def work(storage, study_name, num_classes):
    """A worker: trains the study's WAITING trials until none is left; returns the keys it trained."""
    import optuna
    from optuna.trial import TrialState

    from keras_hire.methods.enlarging.config import EnlargeConfig
    from keras_hire.methods.enlarging.space import EnlargeState
    from keras_hire.methods.enlarging.trials import trial_function

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    config = EnlargeConfig.from_dict(study.user_attrs["config"])
    step, done, run_trial = study.user_attrs["step"], [], trial_function(config)
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial = study.ask()
        if "key" not in trial.user_attrs:  # another worker popped the last queued trial first
            study.tell(trial, state=TrialState.FAIL)
            break
        key = trial.suggest_categorical("candidate", study.user_attrs["candidates"])
        record = run_trial(config, step, key, EnlargeState.from_dict(trial.user_attrs["state"]), num_classes)
        study.tell(trial, record["accuracy"])
        done.append(key)
    return done


def run_workers(config, study_name, num_classes):
    """Runs `config.workers` worker processes on this machine and waits; one worker runs in-process."""
    storage = storage_spec(config)
    if config.workers == 1:
        return work(storage, study_name, num_classes)
    log_dir = os.path.join(config.train.model_dir, "search", "logs")
    os.makedirs(log_dir, exist_ok=True)
    processes = []
    for index in range(config.workers):
        log = open(os.path.join(log_dir, f"{study_name}_worker{index}.log"), "ab")
        command = [sys.executable, "-m", "keras_hire.methods.enlarging.worker", f"--storage={storage}",
                   f"--study={study_name}", f"--num_classes={num_classes}"]
        processes.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
    failed = []
    for index, (process, log) in enumerate(processes):
        if process.wait() != 0:
            failed.append(f"worker {index} (exit {process.returncode}, log {log.name})")
        log.close()
    if failed:
        raise RuntimeError(f"Enlarging workers failed: {', '.join(failed)}. Finished trials are recorded; "
                           "fix the cause and rerun the same command to resume.")
    return None
