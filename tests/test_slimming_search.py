"""Patch significance against a loop over heads and tokens; Algorithm 1 end to end, logged and resumable."""

import json
import os

import keras
import numpy as np
import pytest

from keras_hire.methods.slimming import patch_significance, search_keep_sets, slim
from keras_hire.methods.slimming.search import STATE_FILE
from keras_hire.models import CaiT, VisionTransformer
from tests.test_slimming import BASE, images, perturbed


def loop_significance(model, x, keep):
    """s[t, i] = sum_h ||A_{h,t}[:, i]||^2 ||U_{h,t}[i]||^2 with explicit per-head matrix chains."""
    depth = model.depth
    taps = model.intermediate_model([f"attn_{i}" for i in range(depth)] + [f"block_{i}" for i in range(depth)])
    out = {k: np.asarray(v, np.float64) for k, v in taps.predict(x, verbose=0).items()}
    embedding = np.asarray(keras.Model(model.inputs[0], model.get_layer("pos_drop").output).predict(x, verbose=0),
                           np.float64)
    n = embedding.shape[1]
    scores = np.zeros((depth, n))
    for b in range(len(x)):
        for t in range(depth):
            z = np.abs(embedding[b] if t == 0 else out[f"block_{t - 1}"][b])
            for h in range(model.num_heads):
                a = np.zeros((n, n))
                a[0, 0] = 1.0  # the output reads the class token
                for later in range(depth - 1, t, -1):
                    a = a @ np.diag(np.isin(np.arange(n), keep[later]).astype(float)) @ out[f"attn_{later}"][b, h]
                u = out[f"attn_{t}"][b, h] @ z
                for i in range(n):
                    scores[t, i] += np.sum(np.outer(a[:, i], u[i]) ** 2)
    return scores / len(x)


def test_patch_significance_is_the_papers_score():
    model = perturbed(VisionTransformer(**BASE), 0)
    keep = [list(range(17)), [0, 2, 3, 5, 8, 13], [0]]
    x = images(2)
    expected = loop_significance(model, x, keep)
    actual = patch_significance(model, x, keep=keep, batch_size=1)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-9 * expected.max())
    assert np.count_nonzero(actual[-1]) == 1 and actual[-1, 0] > 0  # the last block: only the class token counts
    # The same score from a slimmed model: the maps are the unslimmed ones with its weights.
    np.testing.assert_allclose(patch_significance(slim(model, keep), x, keep=keep), actual, rtol=1e-5)


def test_search_finds_nested_sets_within_tolerance_and_logs_every_candidate(tmp_path):
    model = perturbed(VisionTransformer(**BASE), 1)
    lines = []
    result = search_keep_sets(model, images(8), tolerance=0.05, granularity=4, block_epochs=1, batch_size=8,
                              state_dir=str(tmp_path), progress=lines.append)
    keep = result.keep
    assert keep[-1] == [0]
    assert all(set(keep[i + 1]) <= set(keep[i]) for i in range(2)) and all(k == sorted(k) for k in keep)
    assert [entry["block"] for entry in result.log][0] == 1 and result.log[-1]["block"] == 0
    for block in (1, 0):
        tried = [e for e in result.log if e["block"] == block]
        assert [e["r"] for e in tried] == [4 * i for i in range(len(tried))]  # r = 0, r0, 2 r0, ...
        assert [e["accepted"] for e in tried] == [False] * (len(tried) - 1) + [True]
        last = tried[-1]
        assert last["error"] <= 0.05 or last["kept"] == len(keep[block - 1] if block else range(17))
    assert any("accepted" in line for line in lines)
    assert result.model.keep == tuple(tuple(k) for k in keep)
    with open(os.path.join(tmp_path, STATE_FILE)) as file:
        state = json.load(file)
    assert state["keep"] == keep and state["next_block"] == 0 and len(state["log"]) == len(result.log)


def test_search_resumes_after_the_last_saved_block(tmp_path):
    model = perturbed(VisionTransformer(**BASE), 2)
    settings = dict(tolerance=0.3, granularity=6, block_epochs=1, batch_size=8, state_dir=str(tmp_path))

    def stop_at_block_0(line):
        if "block 0:" in line:
            raise KeyboardInterrupt  # killed while searching block 0 (block 1 is saved)

    with pytest.raises(KeyboardInterrupt):
        search_keep_sets(model, images(8), progress=stop_at_block_0, **settings)
    with open(os.path.join(tmp_path, STATE_FILE)) as file:
        saved = json.load(file)
    assert saved["next_block"] == 1 and {e["block"] for e in saved["log"]} == {1}
    lines = []
    result = search_keep_sets(model, images(8), progress=lines.append, **settings)
    assert lines[0].startswith("slimming: resumed")
    assert result.keep[1:] == saved["keep"][1:]
    assert result.log[:len(saved["log"])] == saved["log"] and {e["block"] for e in result.log} == {1, 0}
    assert not any("block 1:" in line for line in lines)  # block 1 was not searched again
    with pytest.raises(ValueError, match="holds a search with settings.*Fix"):
        search_keep_sets(model, images(8), **{**settings, "tolerance": 0.9}, progress=None)


def test_search_on_cait_searches_every_patch_block():
    model = perturbed(CaiT(**BASE, class_attention_depth=1, layer_scale_init=0.5), 3)
    result = search_keep_sets(model, images(6), tolerance=0.05, granularity=5, block_epochs=0, batch_size=6,
                              progress=None)
    assert [e["block"] for e in result.log if e["accepted"]] == [2, 1, 0]
    assert result.log[0]["r"] == 5  # no patch is required: the first candidate has r0 patches
    assert len(result.keep[-1]) >= 1 and set(result.keep[1]) <= set(result.keep[0])


def test_bad_search_arguments_are_refused():
    model = VisionTransformer(**BASE)
    with pytest.raises(ValueError, match="granularity must be >= 1"):
        search_keep_sets(model, images(2), granularity=0)
    with pytest.raises(ValueError, match="not a ViT-family model"):
        inputs = keras.Input((32, 32, 3))
        search_keep_sets(keras.Model(inputs, inputs), images(2))
