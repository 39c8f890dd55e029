"""Static-index gathers along one axis, lowered to slice + concat (builtins on every TFLite delegate)."""

from keras import ops


def take_static(x, indices, axis):
    """`ops.take(x, indices, axis)` for a static index list, as runs of contiguous slices.

    Circular shifts and circular padding are index lists with at most a few runs, so this
    emits a handful of STRIDED_SLICEs and one CONCATENATION instead of a GATHER or a ROLL
    (which needs the Flex delegate when any dimension is dynamic).
    """
    indices = [int(i) for i in indices]
    if indices == list(range(x.shape[axis])):
        return x
    runs = []
    start = prev = indices[0]
    for i in indices[1:]:
        if i != prev + 1:
            runs.append((start, prev + 1))
            start = i
        prev = i
    runs.append((start, prev + 1))
    pieces = [_slice_axis(x, begin, end, axis) for begin, end in runs]
    return pieces[0] if len(pieces) == 1 else ops.concatenate(pieces, axis=axis)


def _slice_axis(x, begin, end, axis):
    if begin == 0 and end == x.shape[axis]:
        return x
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(begin, end)
    return x[tuple(index)]


def circular_indices(size, shift, length=None):
    """Indices of `roll(x, shift)` along an axis of `size`, extended circularly to `length`."""
    length = size if length is None else length
    return [(j - shift) % size for j in range(length)]
