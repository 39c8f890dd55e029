"""The NADAR dilation search (2108.06885 §3, PAPERS.md §2) as a model plugged into the shared trainer.

`DilationSearch` holds a `DigitsCNN`-style backbone (stem, blocks, head: the same layer names as
`digits_cnn`) and one DARTS reduction cell per block with mixed operations over `PRIMITIVES`,
partial channel connections (PC-DARTS: 1/`partial` of the channels go through the ops, the rest
bypass, then a channel shuffle) and edge weights. Architecture parameters `alphas` [edges x ops]
and `betas` [edges] are shared by the cells and start at 1e-3 * N(0, 1).

Each batch is split in two halves, a weight half and a held-out architecture half, and one train
step takes the paper's three gradients at once:
1. the backbone's clean cross-entropy -> backbone weights (the "base step");
2. on the weight half, the hybrid's adversarial loss plus the clean constraint
   `lambda * c + rho / 2 * max(c, 0)^2`, `c = CE_clean(hybrid) - CE_clean(backbone)` (backbone term
   without gradient) -> cell weights;
3. on the held-out half, the hybrid's adversarial loss times `flops_alpha * log(E[MACs])^flops_beta`
   (the expected MACs under the op and edge probabilities) plus its own constraint -> alphas, betas.
After each step `lambda <- lambda + rho * c` for both levels (they start at 0), the official,
unclipped update; `nonnegative_multipliers=True` clips lambda at 0, the textbook update for `c <= 0`.
`constraint=False` drops the constraint (the ablation). Adversarial examples are PGD-`steps` with a
random start on the hybrid (the paper's search uses FreeAT; see docs/robustness.md). One optimizer
applies all three gradients (a first-order, simultaneous version of the paper's sequential steps),
so the trainer's checkpoints hold everything and a killed search resumes where it stopped.
"""

import keras
import numpy as np

from keras_hire.layers.dilation_ops import PRIMITIVES, FactorizedReduce, make_op, op_macs, relu_conv_bn
from keras_hire.methods.robustness.attacks import perturb
from keras_hire.methods.robustness.pixels import pixel_stats
from keras_hire.models.digit_cnns import classifier_head, digits_block, digits_stem


def num_edges(nodes):
    return sum(2 + i for i in range(nodes))


class MixedOp(keras.layers.Layer):
    """Softmax-weighted sum of every primitive on 1/`partial` of the channels; the rest bypass."""

    def __init__(self, channels, stride, partial, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.stride, self.partial = channels, stride, partial
        self.active = channels // partial
        self.ops = [make_op(p, self.active, stride, f"{p}") for p in PRIMITIVES]
        self.bypass = keras.layers.MaxPooling2D(2, padding="same") if stride == 2 else None

    def call(self, x, weights, training=False):
        active, rest = x[..., :self.active], x[..., self.active:]
        mixed = sum(weights[i] * _call(op, active, training) for i, op in enumerate(self.ops))
        if self.partial == 1:
            return mixed
        rest = self.bypass(rest) if self.bypass is not None else rest
        return channel_shuffle(keras.ops.concatenate([mixed, rest], -1), self.partial)


def _call(layer, x, training):
    return layer(x, training=training) if not isinstance(layer, keras.layers.Identity) else x


def channel_shuffle(x, groups):
    """PC-DARTS' shuffle: interleaves the channel groups (training-time only; 5-D reshape)."""
    batch, height, width, channels = keras.ops.shape(x)
    x = keras.ops.reshape(x, (batch, height, width, groups, channels // groups))
    x = keras.ops.transpose(x, (0, 1, 2, 4, 3))
    return keras.ops.reshape(x, (batch, height, width, channels))


class SearchCell(keras.layers.Layer):
    """A DARTS reduction cell with mixed ops on every edge, reading the shared alphas and betas."""

    def __init__(self, width, nodes, partial, reduce_s0, **kwargs):
        super().__init__(**kwargs)
        self.nodes, channels = nodes, width // nodes
        self.pre0 = FactorizedReduce(channels, name="pre0") if reduce_s0 else relu_conv_bn(channels, "pre0")
        self.pre1 = relu_conv_bn(channels, "pre1")
        self.edges = [MixedOp(channels, 2 if j < 2 else 1, partial, name=f"node{i}.edge{j}")
                      for i in range(nodes) for j in range(2 + i)]

    def call(self, s0, s1, op_weights, edge_weights, training=False):
        states = [self.pre0(s0, training=training), self.pre1(s1, training=training)]
        offset = 0
        for i in range(self.nodes):
            count = 2 + i
            betas = keras.ops.softmax(edge_weights[offset:offset + count])
            states.append(sum(betas[j] * self.edges[offset + j](states[j], op_weights[offset + j], training=training)
                              for j in range(count)))
            offset += count
        return keras.ops.concatenate(states[2:], -1)


def updated_multiplier(multiplier, c, rho, nonnegative=False):
    """The augmented-Lagrangian step `lambda + rho * c`, clipped at 0 when `nonnegative`."""
    value = multiplier + rho * c
    return keras.ops.maximum(value, 0.0) if nonnegative else value


def _functional(fn, shape, name):
    inputs = keras.Input(shape)
    return keras.Model(inputs, fn(inputs), name=name)


class DilationSearch(keras.Model):
    """The search network: backbone + mixed-op cells, with its own three-gradient train step.

    Args:
        input_shape, num_classes, widths, stem_width: the backbone (`DigitsCNN`'s arguments).
        mean, std: the data's normalisation (0-255 scale); attacks run on `[0, 1]` pixels.
        nodes: intermediate nodes per cell; partial: PC-DARTS' K.
        epsilon, step_size, steps: the search's PGD (L-inf, pixels).
        rho: the augmented-Lagrangian rho (0.001); constraint: False drops the constraint.
        nonnegative_multipliers: clip the multipliers at 0 (off: the official, unclipped update, under
            which a hybrid cleaner than the backbone drives lambda negative and then rewards clean loss).
        flops_alpha, flops_beta: the FLOPs factor of the architecture step (0.2, 0.6).
        seed: seed of the architecture initialisation and the random starts.
    """

    def __init__(self, input_shape, num_classes, mean, std, widths=(32, 64), stem_width=16, nodes=2, partial=2,
                 epsilon=0.3, step_size=0.1, steps=3, rho=0.001, constraint=True, flops_alpha=0.2, flops_beta=0.6,
                 seed=0, nonnegative_multipliers=False, name="dilation_search", **kwargs):
        super().__init__(name=name, **kwargs)
        for width in widths:
            if width % nodes or (width // nodes) % (2 * partial):
                raise ValueError(f"DilationSearch: width {width} must split into {nodes} nodes whose channels are a "
                                 f"multiple of 2 * partial = {2 * partial}. Fix: widths that are multiples of "
                                 f"{2 * partial * nodes}.")
        self.widths, self.nodes, self.partial = tuple(int(w) for w in widths), int(nodes), int(partial)
        self.stem_width, self.num_classes, self.image_shape = int(stem_width), int(num_classes), tuple(input_shape)
        self.epsilon, self.step_size, self.steps = float(epsilon), float(step_size), int(steps)
        self.rho, self.constraint = float(rho), bool(constraint)
        self.nonnegative_multipliers = bool(nonnegative_multipliers)
        self.flops_alpha, self.flops_beta, self.seed = float(flops_alpha), float(flops_beta), int(seed)
        mean, std = pixel_stats(mean, std, int(input_shape[-1]))
        self.pixel_mean, self.pixel_std = mean.tolist(), std.tolist()
        self.stem = _functional(lambda x: digits_stem(x, int(stem_width)), input_shape, "stem")
        shapes, self.blocks, self.cells = [self.stem.output_shape[1:]], [], []
        for index, width in enumerate(self.widths):
            self.blocks.append(_functional(lambda x, w=width, i=index: digits_block(x, w, f"block{i + 1}"),
                                           shapes[-1], f"block{index + 1}"))
            self.cells.append(SearchCell(width, self.nodes, self.partial, reduce_s0=index > 0, name=f"cell{index + 1}"))
            shapes.append(self.blocks[-1].output_shape[1:])
        self.head = _functional(lambda x: classifier_head(x, int(num_classes)), shapes[-1], "head")
        self.cell_input_shapes = shapes  # z_0 .. z_L
        edges = num_edges(self.nodes)
        init = keras.initializers.RandomNormal(stddev=1e-3, seed=seed)
        self.alphas = self.add_weight(shape=(edges, len(PRIMITIVES)), initializer=init, name="alphas")
        self.betas = self.add_weight(shape=(edges,), initializer=keras.initializers.RandomNormal(stddev=1e-3,
                                                                                                 seed=seed + 1),
                                     name="betas")
        self.lambda_w = self.add_weight(shape=(), initializer="zeros", trainable=False, name="lambda_weights")
        self.lambda_a = self.add_weight(shape=(), initializer="zeros", trainable=False, name="lambda_arch")
        from keras_hire.utils import count_macs

        # Counted here, eagerly: tracing count_macs inside the compiled train step would nest graphs.
        self.backbone_macs = float(sum(count_macs(part) for part in [self.stem, *self.blocks, self.head]))
        self._op_macs = self._op_mac_table()

    # ----- forward passes
    def backbone_logits(self, x, training=False):
        z = self.stem(x, training=training)
        for block in self.blocks:
            z = block(z, training=training)
        return self.head(z, training=training)

    def hybrid_logits(self, x, training=False):
        op_weights = keras.ops.softmax(self.alphas, axis=-1)
        previous = current = self.stem(x, training=training)
        for block, cell in zip(self.blocks, self.cells):
            dilated = block(current, training=training) + cell(previous, current, op_weights, self.betas,
                                                               training=training)
            previous, current = current, dilated
        return self.head(current, training=training)

    def call(self, x, training=False):
        return self.hybrid_logits(x, training=training)

    # ----- FLOPs
    def _op_mac_table(self):
        """[cells, edges, ops] MACs of each op at full width (what the discretised cell will cost)."""
        table = []
        for index, width in enumerate(self.widths):
            size = self.cell_input_shapes[index][:2]
            channels, rows = width // self.nodes, []
            for i in range(self.nodes):
                for j in range(2 + i):
                    stride = 2 if j < 2 else 1
                    in_size = size if j < 2 else (-(-size[0] // 2), -(-size[1] // 2))
                    rows.append([op_macs(p, channels, stride, in_size) for p in PRIMITIVES])
            table.append(rows)
        return np.asarray(table, "float32")

    def expected_macs(self):
        """Backbone MACs plus the cells' expected MACs under the op and edge probabilities."""
        op_probs = keras.ops.softmax(self.alphas, axis=-1)
        edge_probs, offset = [], 0
        for i in range(self.nodes):
            edge_probs.append(keras.ops.softmax(self.betas[offset:offset + 2 + i]))
            offset += 2 + i
        edge_probs = keras.ops.concatenate(edge_probs, 0)
        per_edge = keras.ops.sum(op_probs[None] * self._op_macs, -1)  # [cells, edges]
        # A node sums its edges weighted by the normalised betas; two edges survive discretisation.
        return self.backbone_macs + 2.0 * keras.ops.sum(per_edge * edge_probs[None])

    def flops_factor(self):
        return self.flops_alpha * keras.ops.power(keras.ops.log(self.expected_macs()), self.flops_beta)

    # ----- training
    def compile(self, optimizer="adam", *args, **kwargs):
        optimizer = keras.optimizers.get(optimizer)
        if hasattr(optimizer, "exclude_from_weight_decay"):
            optimizer.exclude_from_weight_decay(var_names=["alphas", "betas"])
        super().compile(optimizer, *args, **kwargs)

    def _pixels(self, x):
        mean = keras.ops.convert_to_tensor(self.pixel_mean, "float32")
        std = keras.ops.convert_to_tensor(self.pixel_std, "float32")
        return keras.ops.clip(x * std + mean, 0.0, 1.0), mean, std

    def _adversarial(self, x, labels, salt):
        pixels, mean, std = self._pixels(x)
        seed = keras.ops.stack([keras.ops.convert_to_tensor(self.seed + salt, "int32"),
                                keras.ops.cast(self.optimizer.iterations, "int32")])
        adversarial = perturb(lambda p: self.hybrid_logits((p - mean) / std), pixels, labels, self.epsilon,
                              self.step_size, self.steps, random_start=True, noise_seed=seed)
        return (adversarial - mean) / std

    def _constraint(self, clean_hybrid, clean_backbone, multiplier):
        c = clean_hybrid - keras.ops.stop_gradient(clean_backbone)
        penalty = multiplier * c + self.rho / 2.0 * keras.ops.square(keras.ops.relu(c))
        return (penalty, c) if self.constraint else (0.0, c)

    def train_step(self, data):
        import tensorflow as tf

        x, y = data[0], data[1]
        half = tf.shape(x)[0] // 2
        xw, yw, xa, ya = x[:half], y[:half], x[half:], y[half:]
        ids_w, ids_a = tf.argmax(yw, -1, output_type=tf.int32), tf.argmax(ya, -1, output_type=tf.int32)
        adv_w, adv_a = self._adversarial(xw, ids_w, 0), self._adversarial(xa, ids_a, 7919)
        ce = keras.losses.CategoricalCrossentropy(from_logits=True)
        backbone_vars = self.stem.trainable_weights + [w for b in self.blocks for w in b.trainable_weights] + \
            self.head.trainable_weights
        cell_vars = [w for cell in self.cells for w in cell.trainable_weights]
        arch_vars = [self.alphas, self.betas]
        with tf.GradientTape(persistent=True) as tape:
            base = ce(yw, self.backbone_logits(xw, training=True))
            clean_w = ce(yw, self.hybrid_logits(xw, training=True))
            adv_loss_w = ce(yw, self.hybrid_logits(adv_w, training=True))
            penalty_w, c_w = self._constraint(clean_w, base, self.lambda_w)
            weight_loss = adv_loss_w + penalty_w
            base_a = keras.ops.stop_gradient(ce(ya, self.backbone_logits(xa, training=False)))
            clean_a = ce(ya, self.hybrid_logits(xa, training=True))
            factor = self.flops_factor()
            adv_loss_a = ce(ya, self.hybrid_logits(adv_a, training=True))
            penalty_a, c_a = self._constraint(clean_a, base_a, self.lambda_a)
            arch_loss = adv_loss_a * factor + penalty_a
        gradients = (tape.gradient(base, backbone_vars) + tape.gradient(weight_loss, cell_vars) +
                     tape.gradient(arch_loss, arch_vars))
        del tape
        self.optimizer.apply_gradients(zip(gradients, backbone_vars + cell_vars + arch_vars))
        if self.constraint:
            for multiplier, c in ((self.lambda_w, c_w), (self.lambda_a, c_a)):
                multiplier.assign(updated_multiplier(multiplier, keras.ops.stop_gradient(c), self.rho,
                                                     self.nonnegative_multipliers))
        self._loss_tracker.update_state(weight_loss, sample_weight=half)
        logs = self.compute_metrics(xw, yw, self.hybrid_logits(xw, training=False))
        logs.update(base_loss=base, adversarial_loss=adv_loss_w, constraint=c_w, arch_loss=arch_loss,
                    flops_factor=factor, expected_macs=self.expected_macs(), lambda_weights=self.lambda_w.value)
        return logs

    # ----- discretisation
    def genotype(self):
        """Per node the two strongest incoming edges (beta-normalised weight times the best non-`none`
        op probability) with their best non-`none` op: the `NadarHybrid` genotype."""
        ops = keras.ops.convert_to_numpy(keras.ops.softmax(self.alphas, axis=-1))
        betas = keras.ops.convert_to_numpy(self.betas)
        genotype, offset = [], 0
        for i in range(self.nodes):
            count = 2 + i
            edge = np.exp(betas[offset:offset + count] - betas[offset:offset + count].max())
            edge = edge / edge.sum()
            strength = [edge[j] * ops[offset + j, 1:].max() for j in range(count)]
            for j in sorted(np.argsort(strength)[-2:]):
                genotype.append((PRIMITIVES[1 + int(ops[offset + j, 1:].argmax())], int(j)))
            offset += count
        return tuple(genotype)

    def backbone(self):
        """The backbone alone, the clean base learner, as the registered `digits_cnn` with its weights: the
        hybrid (`nadar_hybrid_digits`) and `digits_cnn` runs take it as `--init_checkpoint` by layer name."""
        from keras_hire.models import create_model

        model = create_model("digits_cnn", widths=self.widths, stem_width=self.stem_width,
                             num_classes=self.num_classes, input_shape=self.image_shape)
        trained = {layer.name: layer for part in (self.stem, *self.blocks, self.head) for layer in part.layers}
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(trained[layer.name].get_weights())
        return model


def search(config, strategy=None, callbacks=()):
    """Runs the search of `config` (a `NadarConfig`, `mode="search"`) on the shared trainer; writes and
    returns `{"genotype", "expected_macs", "alphas", "betas", "hybrid_kwargs"}` (`<model_dir>/genotype.json`).

    `config.train.model_kwargs` may set `widths`, `stem_width`, `nodes` and `partial`. A killed search
    resumes from its last epoch's checkpoint (architecture weights and multipliers included) when run
    again with the same `model_dir`; `callbacks` go to the trainer's `fit`.
    """
    import json
    import os

    from keras_hire.methods.robustness.run import NADAR_CONFIG, data_stats
    from keras_hire.training import is_chief, train
    from keras_hire.utils.atomic import atomic_write_text

    kwargs = dict(config.train.model_kwargs or {})
    allowed = {"widths", "stem_width", "nodes", "partial"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(f"search: unknown model_kwargs {unknown}. Fix: use only {sorted(allowed)}.")
    mean, std = data_stats(config.train)
    holder = {}

    def build(train_config, num_classes, input_shape):
        if is_chief():
            os.makedirs(train_config.model_dir, exist_ok=True)
            atomic_write_text(os.path.join(train_config.model_dir, NADAR_CONFIG), config.to_json())
        model = DilationSearch(tuple(input_shape), num_classes, mean, std, epsilon=config.epsilon,
                               step_size=config.step_size, steps=config.steps, rho=config.rho,
                               constraint=config.constraint, flops_alpha=config.flops_alpha,
                               flops_beta=config.flops_beta, seed=config.train.seed,
                               nonnegative_multipliers=config.nonnegative_multipliers, **kwargs)
        holder["model"] = model
        return model

    train(config.train, strategy, build_model=build, deployable=lambda model: model.backbone(), callbacks=callbacks)
    model = holder["model"]
    genotype = model.genotype()
    result = {"genotype": genotype, "expected_macs": float(keras.ops.convert_to_numpy(model.expected_macs())),
              "alphas": keras.ops.convert_to_numpy(keras.ops.softmax(model.alphas, -1)).round(4).tolist(),
              "betas": keras.ops.convert_to_numpy(model.betas).round(4).tolist(),
              "constraint": config.constraint, "rho": config.rho,
              "nonnegative_multipliers": config.nonnegative_multipliers,
              "hybrid_kwargs": {"genotype": [list(pair) for pair in genotype],
                                "widths": list(model.widths), "stem_width": model.stem_width}}
    if is_chief():
        atomic_write_text(os.path.join(config.train.model_dir, "genotype.json"), json.dumps(result, indent=2))
    return result

