"""One client's local training in a round, the same code for the simulation and the Flower ClientApp.

As the released `Client.train_fedavg_pu` / `train_fedavg_p` / `train_fedprox_pu`: the global
weights are loaded, `epochs` passes over the client's shuffled data in batches of `batch_size`
(the last batch partial), PyTorch-style SGD with momentum (buf = m * buf + g; w -= lr * buf, the
buffers kept by the client across rounds), lr = lr0 * decay ** (rounds the client took part in).
Every random draw (batch order, dropout) is seeded by (seed, round, client), so a round gives the
same weights wherever it runs.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_hire.methods.federated.pu_loss import labelled_cross_entropy, masked_pu_terms


@dataclasses.dataclass
class ClientUpdate:
    """A client's reply: trained weights, its sample count, metrics and its new local state."""

    client_id: int
    weights: list
    num_examples: int
    metrics: dict
    state: dict


def initial_client_state(model):
    """Zero momentum buffers and no round taken part in yet."""
    return {"momentum": [np.zeros(v.shape, np.float32) for v in model.trainable_variables], "rounds": 0}


def _seed_dropout(model, seed):
    # Keras keeps each dropout layer's random state in a non-trainable variable; fixing it per
    # (round, client) makes the masks independent of what ran before in this process.
    for i, variable in enumerate(v for v in model.non_trainable_variables if "seed_generator_state" in v.path):
        variable.assign(np.asarray([seed * 64 + i, 0], variable.dtype))


class LocalTrainer:
    """Trains one model in place for any client; `train(...)` returns a `ClientUpdate`."""

    def __init__(self, model, config):
        self.model, self.config = model, config
        self.num_classes = int(model.outputs[0].shape[-1])
        self._buffers = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in model.trainable_variables]
        self._anchor = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in model.trainable_variables]
        self._priors = tf.Variable(tf.zeros([self.num_classes]), trainable=False)
        self._mask = tf.Variable(tf.zeros([self.num_classes]), trainable=False)
        self._step = tf.function(self._train_step, reduce_retracing=True)

    def _train_step(self, images, labels, learning_rate, mu):
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            terms = self._loss_terms(logits, labels)
            loss = terms["loss"]
            if self.config.aggregator == "fedprox":  # the FedProx paper's proximal term (see docs)
                loss += mu / 2.0 * tf.add_n([tf.reduce_sum(tf.square(v - a))
                                             for v, a in zip(self.model.trainable_variables, self._anchor)])
        gradients = tape.gradient(loss, self.model.trainable_variables)
        for variable, gradient, buffer in zip(self.model.trainable_variables, gradients, self._buffers):
            buffer.assign(self.config.momentum * buffer + gradient)
            variable.assign_sub(learning_rate * buffer)
        return terms

    def _loss_terms(self, logits, labels):
        if self.config.loss == "fedpu":
            return masked_pu_terms(logits, labels, self._priors, self._mask, self.config.pu_weight)
        if self.config.loss == "positives_only":
            return {"loss": labelled_cross_entropy(logits, labels)}
        return {"loss": labelled_cross_entropy(logits, labels % self.num_classes)}

    def train(self, global_weights, client, images, state, round_number, epochs, seed):
        """Local training of `client` (a `ClientData`) on `images` (its samples, preprocessed)."""
        config = self.config
        self.model.set_weights(global_weights)
        for anchor, variable in zip(self._anchor, self.model.trainable_variables):
            anchor.assign(variable)
        for buffer, value in zip(self._buffers, state["momentum"]):
            buffer.assign(value)
        self._priors.assign(client.priors)
        self._mask.assign(np.isin(np.arange(self.num_classes), client.positive_classes).astype(np.float32))
        run_seed = (seed * 1_000_003 + round_number) * 1_009 + client.client_id
        _seed_dropout(self.model, run_seed % (2 ** 31))
        rng = np.random.RandomState(run_seed % (2 ** 32))
        learning_rate = config.learning_rate * config.lr_decay ** state["rounds"]
        labels = client.labels
        losses = []
        for _ in range(epochs):
            order = rng.permutation(len(labels))
            for start in range(0, len(order), config.batch_size):
                batch = order[start:start + config.batch_size]
                terms = self._step(tf.constant(images[batch]), tf.constant(labels[batch], tf.int32),
                                   tf.constant(learning_rate, tf.float32), tf.constant(config.proximal_mu, tf.float32))
                losses.append(float(terms["loss"]))
        new_state = {"momentum": [b.numpy() for b in self._buffers], "rounds": state["rounds"] + 1}
        metrics = {"loss": float(np.mean(losses)), "learning_rate": learning_rate, "epochs": epochs}
        return ClientUpdate(client.client_id, self.model.get_weights(), client.num_examples, metrics, new_state)

