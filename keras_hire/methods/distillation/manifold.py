"""The fine-grained manifold loss of 2107.01378, exactly as the official `layer_mf_loss`.

For one student/teacher layer pair of token tensors `[B, N, C]` (the widths C may differ; the
manifolds are N x N, B x B or K x K, so no projection is needed):

1. the student's extra leading tokens are dropped: its first `N_s - N_t` tokens (class and
   distillation tokens, when the teacher has only patch tokens);
2. every token is L2-normalised over its channels (`F.normalize`: divided by max(norm, 1e-12));
3. `patch`: mean of (M_t - M_s)^2 over the `[B, N, N]` intra-image matrices M = F F^T per image;
   `sample`: the same over the `[N, B, B]` inter-image matrices, one per token position;
   `random`: the same over the `[K, K]` matrix of K tokens taken from the `B * N` flattened
   tokens. The flattening is the official `F.reshape(B * N, C)` of a `[B, N, C]` tensor: row-major,
   so flat index `b * N + n` is token n of image b. The same K indices serve student and teacher.
"""

import keras
import numpy as np
from keras import ops

_NORM_EPSILON = 1e-12  # torch.nn.functional.normalize's default


def manifold_loss(student_tokens, teacher_tokens, num_samples=192, sample_indices=None, *, seed=None):
    """The three unweighted manifold terms of one layer pair, as the official `layer_mf_loss`.

    Args:
        student_tokens: `[B, N_s, C_s]` student block output (numpy array or tensor). Its first
            `N_s - N_t` tokens are dropped, so class/distillation tokens may stay in.
        teacher_tokens: `[B, N_t, C_t]` teacher block output, `N_t <= N_s`; `C_t` may differ from `C_s`.
        num_samples: K, the number of tokens of the random term (the paper's 192); at most `B * N_t`.
            Ignored when `sample_indices` is given.
        sample_indices: optional 1-D integer indices into the `B * N_t` flattened tokens (flat index
            `b * N_t + n`), fixing the random term's tokens; by default K distinct indices are drawn
            anew on every call (a random permutation's first K, as `torch.randperm(B * N)[:K]`).
        seed: seed of the draw (an int or a `keras.random.SeedGenerator`; needed inside a jitted
            JAX function). Unused with `sample_indices`.

    Returns:
        A dict of scalar tensors `{"patch", "sample", "random"}` (float32, or float64 for float64
        inputs); `float(result["patch"])` gives a Python number.

    Example:
    ```python
    terms = manifold_loss(student_block, teacher_block)          # [B, 198, 192] vs [B, 196, 384]
    loss = 4.0 * terms["patch"] + 0.1 * terms["sample"] + 0.2 * terms["random"]
    ```
    """
    student, teacher = _checked_tokens(student_tokens, teacher_tokens)
    extra = student.shape[1] - teacher.shape[1]
    student = _l2_normalize(student[:, extra:, :])
    teacher = _l2_normalize(teacher)

    patch = _mean_squared_difference(_gram(student), _gram(teacher))
    student_by_position = ops.transpose(student, (1, 0, 2))  # [N, B, C]
    teacher_by_position = ops.transpose(teacher, (1, 0, 2))
    sample = _mean_squared_difference(_gram(student_by_position), _gram(teacher_by_position))

    indices = _random_indices(teacher, num_samples, sample_indices, seed)
    student_flat = ops.take(ops.reshape(student, (-1, student.shape[-1])), indices, axis=0)  # [K, C_s]
    teacher_flat = ops.take(ops.reshape(teacher, (-1, teacher.shape[-1])), indices, axis=0)
    random = _mean_squared_difference(_gram(student_flat), _gram(teacher_flat))
    return {"patch": patch, "sample": sample, "random": random}


def _checked_tokens(student_tokens, teacher_tokens):
    student, teacher = _as_float(student_tokens), _as_float(teacher_tokens)
    for name, tensor in (("student_tokens", student), ("teacher_tokens", teacher)):
        if len(tensor.shape) != 3:
            raise ValueError(f"manifold_loss: {name} has shape {tuple(tensor.shape)}; expected rank 3 "
                             "[batch, tokens, channels]. Fix: pass block outputs, or flatten a [B, H, W, C] "
                             "map with reshape(B, H * W, C) (keras_hire.methods.distillation.flatten_map).")
    if student.shape[0] is not None and teacher.shape[0] is not None and student.shape[0] != teacher.shape[0]:
        raise ValueError(f"manifold_loss: batch sizes differ, student {student.shape[0]} and teacher "
                         f"{teacher.shape[0]}. Fix: run student and teacher on the same batch of images.")
    if student.shape[1] < teacher.shape[1]:
        raise ValueError(f"manifold_loss: the student has {student.shape[1]} tokens, fewer than the teacher's "
                         f"{teacher.shape[1]}; only the student's extra leading (class/distillation) tokens can be "
                         "dropped. Fix: merge the teacher's tokens to the student's count (merge_tokens) or pair "
                         "layers with equal patch counts.")
    if student.dtype != teacher.dtype:
        student, teacher = ops.cast(student, "float32"), ops.cast(teacher, "float32")
    return student, teacher


def _as_float(tokens):
    tensor = ops.convert_to_tensor(tokens)
    dtype = "float64" if keras.backend.standardize_dtype(tensor.dtype) == "float64" else "float32"
    return ops.cast(tensor, dtype)


def _l2_normalize(tokens):
    norm = ops.sqrt(ops.sum(ops.square(tokens), axis=-1, keepdims=True))
    return tokens / ops.maximum(norm, ops.cast(_NORM_EPSILON, tokens.dtype))


def _gram(vectors):
    """`[..., M, C] -> [..., M, M]` inner products (the manifold's similarity matrix)."""
    return ops.matmul(vectors, ops.swapaxes(vectors, -1, -2))


def _mean_squared_difference(student_matrix, teacher_matrix):
    return ops.mean(ops.square(teacher_matrix - student_matrix))


def _random_indices(teacher, num_samples, sample_indices, seed):
    batch, tokens = teacher.shape[0], teacher.shape[1]
    if sample_indices is not None:
        return _checked_indices(sample_indices, batch, tokens)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"manifold_loss: num_samples={num_samples!r}; expected a positive integer K (the paper "
                         "uses 192). Fix: pass num_samples=192 or another K <= batch * tokens.")
    if batch is None:
        # A graph with an unknown batch (e.g. an evaluation tail): K is clipped to B * N at run time,
        # as torch.randperm(B * N)[:K] is; with a static batch a too-large K is an error instead.
        total = ops.shape(teacher)[0] * tokens
    else:
        total = batch * tokens
        if num_samples > total:
            raise ValueError(f"manifold_loss: num_samples K={num_samples} is larger than batch * tokens = {batch} "
                             f"* {tokens} = {total}, the number of tokens to sample from. Fix: lower K "
                             f"(num_samples, --num_samples) to at most {total}, or raise the batch size.")
    permutation = keras.random.shuffle(ops.arange(total, dtype="int32"), seed=seed)
    return permutation[:num_samples]


def _checked_indices(sample_indices, batch, tokens):
    if isinstance(sample_indices, (list, tuple, np.ndarray)):
        values = np.asarray(sample_indices)
        if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"manifold_loss: sample_indices must be a non-empty 1-D list of integers; got shape "
                             f"{values.shape} and dtype {values.dtype}. Fix: pass e.g. np.arange(K).")
        if batch is not None and (values.min() < 0 or values.max() >= batch * tokens):
            raise ValueError(f"manifold_loss: sample_indices must lie in [0, batch * tokens) = [0, {batch * tokens}) "
                             f"(flat index b * {tokens} + n); got min {values.min()}, max {values.max()}. "
                             "Fix: draw them from range(batch * tokens).")
        return ops.convert_to_tensor(values.astype("int32"))
    indices = ops.convert_to_tensor(sample_indices)
    if len(indices.shape) != 1 or "int" not in keras.backend.standardize_dtype(indices.dtype):
        raise ValueError(f"manifold_loss: sample_indices must be a 1-D integer tensor; got shape {indices.shape} "
                         f"and dtype {indices.dtype}. Fix: pass e.g. keras.ops.arange(K).")
    return indices
