"""The discretised NADAR hybrid (2108.06885): a backbone's blocks plus one searched cell per block.

    z_l = block_l(z_{l-1}) + cell_l(z_{l-2}, z_{l-1}),    z_0 = z_{-1} = stem(x);  logits = head(z_L)

The backbone is `DigitsCNN` (same layer names, so `--init_checkpoint=<backbone>/model.keras` keeps
a trained backbone). Each cell is a DARTS reduction cell: its two inputs are preprocessed to
`width / nodes` channels (a factorised reduce for z_{l-2}, which is at twice the resolution),
every node sums two operations of earlier states (stride 2 on the cell inputs), and the nodes are
concatenated to `width` channels. The genotype (shared by all cells, as DARTS shares its
reduction cell) comes from `keras_hire.methods.robustness.search`; it lists, per node, two
`(operation, input state)` pairs, states 0 and 1 being the cell inputs and 2.. the earlier nodes.
"""

import keras

from keras_hire.layers.dilation_ops import PRIMITIVES, FactorizedReduce, make_op, relu_conv_bn
from keras_hire.models.backbone import Backbone, ints
from keras_hire.models.digit_cnns import check_widths, classifier_head, digits_block, digits_stem, halved_block_shapes
from keras_hire.models.registry import family_info, register_variant

# A hand-picked default (two nodes); the searched ones are in docs/robustness.md.
DEFAULT_GENOTYPE = (("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_3x3", 1), ("max_pool_3x3", 2))


def genotype_tuple(genotype):
    """A genotype as a tuple of `(op, state)` pairs (JSON gives lists), checked."""
    pairs = tuple((str(op), int(state)) for op, state in genotype)
    if not pairs or len(pairs) % 2:
        raise ValueError(f"genotype={genotype!r}: needs two (operation, state) pairs per node. Fix: e.g. "
                         f"{DEFAULT_GENOTYPE}.")
    for index, (op, state) in enumerate(pairs):
        if op not in PRIMITIVES or op == "none":
            raise ValueError(f"genotype entry {index} uses {op!r}. Fix: use one of {PRIMITIVES[1:]}.")
        if not 0 <= state < 2 + index // 2:
            raise ValueError(f"genotype entry {index} reads state {state}, but node {index // 2} can read states "
                             f"0..{1 + index // 2} (the two inputs and earlier nodes). Fix: a smaller state index.")
    return pairs


def cell_nodes(genotype):
    return len(genotype) // 2


def static_cell(s0, s1, genotype, width, reduce_s0, name):
    """A discretised cell on tensors: two ops per node, summed; the nodes concatenated to `width`."""
    nodes = cell_nodes(genotype)
    channels = width // nodes
    s0 = FactorizedReduce(channels, name=f"{name}.pre0")(s0) if reduce_s0 else relu_conv_bn(channels,
                                                                                           f"{name}.pre0")(s0)
    states = [s0, relu_conv_bn(channels, f"{name}.pre1")(s1)]
    for node in range(nodes):
        terms = []
        for slot in range(2):
            op, state = genotype[2 * node + slot]
            stride = 2 if state < 2 else 1
            terms.append(make_op(op, channels, stride, f"{name}.node{node}.{slot}.{op}")(states[state]))
        states.append(keras.layers.Add(name=f"{name}.node{node}")(terms))
    return keras.layers.Concatenate(name=f"{name}.concat")(states[2:])


def check_cell_width(family, widths, nodes):
    for width in widths:
        if width % nodes or (width // nodes) % 2:
            raise ValueError(f"{family}: block width {width} must split into {nodes} nodes of an even channel count "
                             f"(the factorised reduce halves it). Fix: widths that are multiples of {2 * nodes}.")


@keras.saving.register_keras_serializable(package="keras_hire")
class NadarHybrid(Backbone):
    """A `DigitsCNN` backbone dilated with one discretised NADAR cell per block (outputs summed).

    Args:
        genotype: per node two `(operation, state)` pairs (see the module docstring).
        widths, stem_width, num_classes, input_shape, include_top: as `DigitsCNN`.
        name: model name.

    Example:
    ```python
    model = keras_hire.models.create_model("nadar_hybrid_digits", genotype=searched["genotype"])
    ```
    """

    def __init__(self, genotype=DEFAULT_GENOTYPE, widths=(32, 64), stem_width=16, num_classes=10,
                 input_shape=(28, 28, 1), include_top=True, name="nadar_hybrid", **kwargs):
        genotype = genotype_tuple(genotype)
        widths, shape = check_widths("NadarHybrid", stem_width, widths, input_shape)
        check_cell_width("NadarHybrid", widths, cell_nodes(genotype))
        inputs = keras.Input(shape, name="images")
        previous = current = digits_stem(inputs, int(stem_width))
        pyramid = {}
        for index, width in enumerate(widths):
            name_l = f"block{index + 1}"
            block = digits_block(current, width, name_l)
            cell = static_cell(previous, current, genotype, width, reduce_s0=index > 0, name=f"cell{index + 1}")
            previous, current = current, keras.layers.Add(name=f"{name_l}.dilated")([block, cell])
            pyramid[name_l] = current
        x = classifier_head(current, int(num_classes)) if include_top else current
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(genotype=genotype_tuple, widths=ints, stem_width=int, num_classes=int, include_top=bool)

    def stage_shapes(self):
        return halved_block_shapes(self.inputs[0].shape[1:3], self.widths)


_INFO = family_info("2108.06885", input_size=(28, 28), crop_fraction=1.0)
NadarHybridDigits = register_variant(NadarHybrid, "nadar_hybrid_digits", "NadarHybridDigits",
                                     dict(widths=(32, 64), stem_width=16, input_shape=(28, 28, 1)), _INFO)
