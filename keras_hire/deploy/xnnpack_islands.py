"""Int8 files that XNNPACK takes whole: the int8 ops it has no kernel for run in float between (de)quantize ops."""

from keras_hire.benchmark.coverage import xnnpack_coverage
from keras_hire.export.float_islands import float_islands


def with_xnnpack_float_islands(flatbuffer):
    """`(flatbuffer, islands)`: the file with every op XNNPACK did not take made a float island, and those ops.

    An int8 op XNNPACK refuses (GELU as a lookup table, a standalone RELU with its own output scale, an
    ADD whose scale ratio is out of its range) splits the delegated graph and runs on LiteRT's single-
    threaded reference kernel. As a float island it runs on XNNPACK (`keras_hire.export.float_islands`).
    `islands` is `{op name: count}` of the ops missed before (float ops XNNPACK misses stay missed).
    """
    missed = xnnpack_coverage(flatbuffer)["not_delegated"]
    return (float_islands(flatbuffer, sorted(missed)) if missed else flatbuffer), dict(missed)
