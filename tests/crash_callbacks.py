"""Keras callbacks for resume tests: a crash right after an epoch is committed, and a train-step counter."""

import keras


class Crash(RuntimeError):
    pass


class CrashAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):  # runs after the trainer's checkpoint callback
        raise Crash("simulated crash")


class CountSteps(keras.callbacks.Callback):
    steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
