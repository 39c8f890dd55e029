"""Algorithm 1 of patch slimming (2106.02852): top-down search of nested static token sets, resumable."""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_hire.layers import TokenSlice
from keras_hire.methods.slimming.significance import is_cait, patch_significance, unslimmed
from keras_hire.methods.slimming.slim import check_slimmable, copy_weights, full_keep, required_tokens, slim
from keras_hire.utils.atomic import atomic_save, atomic_write_json

STATE_FILE = "slimming_state.json"
WEIGHTS_FILE = "slimming_weights.weights.h5"


@dataclasses.dataclass
class SearchResult:
    """What `search_keep_sets` returns.

    Attributes:
        keep: the per-block sorted token index lists.
        model: the slimmed model (blocks fine-tuned, and the whole model if asked).
        log: one dict per candidate tried: block, r, kept, error_before, error (after block
            fine-tuning), accepted, seconds.
    """

    keep: list
    model: keras.Model
    log: list


def search_keep_sets(model, images, *, tolerance=0.01, granularity=10, block_epochs=3, block_learning_rate=1e-4,
                     batch_size=32, significance_images=None, state_dir=None, finetune_data=None, finetune_epochs=0,
                     finetune_learning_rate=1e-4, progress=print):
    """Finds patch slimming's nested token sets from the last block down (the paper's Algorithm 1).

    The last ViT block keeps only the class (and distillation) token (CaiT: no patch is fixed;
    its last patch block is searched against the class-attention output). Then for
    `l = L-2 .. 0` the set of block `l` starts as block `l+1`'s and grows by the `granularity`
    most significant other tokens (`patch_significance`, masks of the sets found so far) until,
    after fine-tuning block `l` for `block_epochs` epochs, the relative squared error
    `sum((Z - Z_ref)^2) / sum(Z_ref^2)` of block `l+1`'s kept outputs is within `tolerance`.
    `Z_ref` is the accepted model of the previous step (the original model at the first step),
    since block `l+1` was itself fine-tuned there; a candidate already within tolerance before
    fine-tuning is accepted as it is, and each candidate's fine-tuning starts from the accepted
    weights. Then, with `finetune_data`, the whole slimmed model is fine-tuned.

    State (sets so far, the candidate log and the weights) is saved atomically in `state_dir`
    after every block; a rerun with the same `state_dir` resumes after the last finished block.

    Args:
        model: a ViT-family model (`VisionTransformer`, `CaiT`), usually trained.
        images: float array `(n, h, w, c)`: the sample the errors are measured and blocks
            fine-tuned on (training images).
        tolerance: the paper's epsilon (0.01).
        granularity: the paper's r0, tokens added per candidate (10).
        block_epochs: epochs of block fine-tuning per candidate (3).
        block_learning_rate: AdamW learning rate of block fine-tuning (the paper gives none).
        batch_size: images per step.
        significance_images: images for `patch_significance` (default `images`).
        state_dir: folder for resumable state, or None.
        finetune_data: None, or what `keras.Model.fit` takes as `x` (a `tf.data.Dataset` of
            `(images, labels)`) or a tuple `(images, labels)`, for the final whole-model fine-tune
            (sparse categorical cross-entropy on the logits).
        finetune_epochs: epochs of the whole-model fine-tune.
        finetune_learning_rate: its AdamW learning rate.
        progress: a callable taking one line of progress text (None: silent).

    Returns:
        A `SearchResult` (keep, slimmed model, candidate log).

    Example:
    ```python
    result = search_keep_sets(trained_deit, train_images[:512], tolerance=0.01, state_dir="runs/slim")
    result.model.save("slimmed.keras")
    ```
    """
    check_slimmable(model, "search_keep_sets")
    _check_search_args(tolerance, granularity, block_epochs, batch_size)
    say = progress or (lambda line: None)
    images = np.asarray(images, np.float32)
    significance_images = images if significance_images is None else np.asarray(significance_images, np.float32)
    depth = model.depth
    current = unslimmed(model)
    keep = full_keep(model)
    if not is_cait(model):
        keep[-1] = required_tokens(model)  # exact: the output reads only these rows of the last block
    blocks = list(range(depth - 1, -1, -1)) if is_cait(model) else list(range(depth - 2, -1, -1))
    log = []
    signature = dict(depth=depth, tokens=len(keep[0]), tolerance=tolerance, granularity=granularity,
                     block_epochs=block_epochs, model=model.name)
    state = _load_state(state_dir, signature)
    if state is not None:
        keep, log = state["keep"], state["log"]
        current.load_weights(os.path.join(state_dir, WEIGHTS_FILE))
        blocks = [b for b in blocks if b < state["next_block"]]
        say(f"slimming: resumed from {state_dir}; blocks {blocks[0] if blocks else '-'}..0 left")

    for block in blocks:
        keep = _search_block(current, images, significance_images, keep, block, log, say, tolerance=tolerance,
                             granularity=granularity, block_epochs=block_epochs,
                             learning_rate=block_learning_rate, batch_size=batch_size)
        if state_dir:
            atomic_save(os.path.join(state_dir, WEIGHTS_FILE), current.save_weights)
            atomic_write_json(os.path.join(state_dir, STATE_FILE),
                              dict(signature=signature, keep=keep, log=log, next_block=block))

    slimmed = slim(current, keep)
    if finetune_data is not None and finetune_epochs > 0:
        say(f"slimming: fine-tuning the whole slimmed model for {finetune_epochs} epoch(s)")
        slimmed.compile(optimizer=keras.optimizers.AdamW(finetune_learning_rate),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        if isinstance(finetune_data, tuple):
            slimmed.fit(*finetune_data, epochs=finetune_epochs, batch_size=batch_size, verbose=0)
        else:
            slimmed.fit(finetune_data, epochs=finetune_epochs, verbose=0)
    say(f"slimming: kept tokens per block {[len(k) for k in keep]}")
    return SearchResult(keep=keep, model=slimmed, log=log)


def _check_search_args(tolerance, granularity, block_epochs, batch_size):
    if not float(tolerance) >= 0:
        raise ValueError(f"search_keep_sets: tolerance must be >= 0 (the paper uses 0.01); received {tolerance}.")
    for name, value in (("granularity", granularity), ("batch_size", batch_size)):
        if int(value) < 1:
            raise ValueError(f"search_keep_sets: {name} must be >= 1; received {value}.")
    if int(block_epochs) < 0:
        raise ValueError(f"search_keep_sets: block_epochs must be >= 0 (the paper uses 3); received {block_epochs}.")


def _load_state(state_dir, signature):
    path = os.path.join(state_dir, STATE_FILE) if state_dir else None
    if not path or not os.path.exists(path):
        return None
    with open(path) as file:
        state = json.load(file)
    if state["signature"] != json.loads(json.dumps(signature)):
        raise ValueError(
            f"search_keep_sets: {path} holds a search with settings {state['signature']}, not {signature}. "
            f"Fix: pass another state_dir, or delete that folder to start over."
        )
    return state


def _error_tap(model, block):
    """The intermediate whose error decides block `block`'s set, and the rows of it that count."""
    if block == model.depth - 1:  # CaiT's last patch block feeds the class attention
        return "cls_block_0", slice(0, 1)
    return f"block_{block + 1}", slice(None)


def _search_block(current, images, significance_images, keep, block, log, say, *, tolerance, granularity,
                  block_epochs, learning_rate, batch_size):
    """Grows block `block`'s set until the next block's error is within tolerance; fine-tunes `current`."""
    tap, rows = _error_tap(current, block)
    reference = _predict(slim(current, keep).intermediate_model([tap]), images, batch_size)[tap][:, rows]
    scores = patch_significance(current, significance_images, keep=keep)[block]
    base = set(keep[block + 1]) if block + 1 < len(keep) else set()
    others = sorted((t for t in keep[block] if t not in base), key=lambda t: (-scores[t], t))
    r = 0 if base else granularity
    while True:
        started = time.time()
        candidate = sorted(base | set(others[:r]))
        trial_keep = [list(k) for k in keep]
        trial_keep[block] = candidate
        trial = slim(current, trial_keep)
        error_before = error = _relative_error(trial, tap, rows, images, reference, batch_size)
        everything = r >= len(others)
        if error > tolerance and not everything and block_epochs > 0:
            _finetune_block(trial, block, tap, rows, images, reference, block_epochs, learning_rate, batch_size)
            error = _relative_error(trial, tap, rows, images, reference, batch_size)
        accepted = error <= tolerance or everything
        log.append(dict(block=block, r=r, kept=len(candidate), error_before=error_before, error=error,
                        accepted=accepted, seconds=round(time.time() - started, 2)))
        say(f"slimming: block {block}: {len(candidate)} tokens (r={r}) error {error_before:.4g} -> {error:.4g}"
            f"{' accepted' if accepted else ''}")
        if accepted:
            copy_weights(trial, current)
            return trial_keep
        r += granularity  # the next candidate starts again from the accepted weights (`current`)


def _predict(model, images, batch_size):
    """`model`'s dict of outputs on `images`, batch by batch (no predict function to trace per candidate)."""
    parts = [model(images[i:i + batch_size], training=False) for i in range(0, len(images), batch_size)]
    return {name: np.concatenate([keras.ops.convert_to_numpy(p[name]) for p in parts]) for name in parts[0]}


def _relative_error(model, tap, rows, images, reference, batch_size):
    actual = _predict(model.intermediate_model([tap]), images, batch_size)[tap][:, rows]
    return float(np.sum((actual - reference) ** 2) / max(np.sum(reference ** 2), 1e-30))


def _finetune_block(model, block, tap, rows, images, reference, epochs, learning_rate, batch_size):
    """Trains only block `block`'s layers so that the tap's rows match the reference (MSE)."""
    prefix = f"blocks.{block}."
    for layer in model.layers:
        layer.trainable = layer.name.startswith(prefix)
    selected = model.intermediate_outputs[tap]
    if rows != slice(None):
        selected = TokenSlice(rows.start, rows.stop, name="error_rows")(selected)
    trainer = keras.Model(model.inputs[0], selected)
    trainer.compile(optimizer=keras.optimizers.AdamW(learning_rate), loss="mse")
    trainer.fit(images, reference, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    for layer in model.layers:
        layer.trainable = True
