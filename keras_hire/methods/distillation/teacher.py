"""Loading the trained teacher of a distillation run from a `.keras` file or an official checkpoint."""

import os

import keras

from keras_hire.methods.distillation.config import KERAS_SUFFIXES


def load_teacher(path, num_classes, input_shape, teacher=None, teacher_kwargs=None):
    """The teacher model from `path`, checked against the run's classes and image shape.

    Args:
        path: a `.keras` file (any saved keras_hire model) or an official PyTorch checkpoint.
        num_classes, input_shape: the run's (the student's); a teacher of other classes or another
            image size is refused, naming the fix.
        teacher: registry name; required for a PyTorch checkpoint, checked against a `.keras` file.
        teacher_kwargs: constructor overrides for a PyTorch checkpoint's architecture.

    Example:
    ```python
    teacher = load_teacher("runs/cait_teacher/model.keras", 10, (28, 28, 1))
    ```
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"teacher_checkpoint {path!r} does not exist. Fix: train the teacher first "
                                "(training/train.py writes <model_dir>/model.keras) and pass that path.")
    if path.endswith(KERAS_SUFFIXES):
        import keras_hire.models  # noqa: F401  (registers the families' classes for deserialisation)

        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as error:  # a corrupt or foreign file: say which and why
            raise ValueError(f"teacher_checkpoint {path!r} could not be loaded as a Keras model ({error}). Fix: pass "
                             "a .keras file saved by keras_hire (a training run's model.keras).") from error
        if teacher and model.name != teacher:
            raise ValueError(f"teacher_checkpoint {path!r} holds '{model.name}', not the teacher {teacher!r}. Fix: "
                             f"pass --teacher={model.name} (or omit --teacher), or the checkpoint of {teacher!r}.")
    else:
        model = _from_pytorch(path, teacher, num_classes, input_shape, teacher_kwargs or {})
    _check_run_fit(model, path, num_classes, input_shape)
    model.trainable = False
    return model


def _from_pytorch(path, teacher, num_classes, input_shape, teacher_kwargs):
    from keras_hire.convert import load_pytorch_weights, read_state_dict
    from keras_hire.models import create_model

    if not teacher:
        raise ValueError(f"teacher_checkpoint {path!r} is a PyTorch checkpoint, which does not name its "
                         "architecture. Fix: pass --teacher=<registry name>, e.g. cait_s24.")
    state = read_state_dict(path)
    head = state.get("head.weight")
    if head is not None and head.shape[0] != num_classes:
        raise ValueError(f"teacher_checkpoint {path!r} predicts {head.shape[0]} classes and the dataset has "
                         f"{num_classes}; a teacher must know the student's classes. Fix: fine-tune it first "
                         f"(training/train.py --model={teacher} --init_checkpoint={path}) and pass that run's "
                         "model.keras.")
    model = create_model(teacher, **{"num_classes": num_classes, "input_shape": tuple(input_shape), **teacher_kwargs})
    try:
        load_pytorch_weights(model, state)
    except Exception as error:
        raise ValueError(f"teacher_checkpoint {path!r} does not fit the teacher {teacher!r} ({error}). Fix: pass "
                         f"the checkpoint of {teacher!r}, or the --teacher (and --teacher_kwargs) it was trained "
                         "as.") from error
    return model


def _check_run_fit(model, path, num_classes, input_shape):
    if not getattr(model, "inputs", None):
        raise ValueError(f"teacher_checkpoint {path!r} holds a subclassed model without symbolic inputs. Fix: use a "
                         "functional keras_hire model.")
    shape = tuple(model.inputs[0].shape[1:])
    if shape != tuple(input_shape):
        raise ValueError(f"The teacher in {path!r} takes images of shape {shape} and the run's student "
                         f"{tuple(input_shape)}; both see the same batch. Fix: train the teacher with the student's "
                         "--image_size and --channels, or set those of the student to the teacher's.")
    classes = model.outputs[0].shape[-1]
    if classes != num_classes:
        raise ValueError(f"The teacher in {path!r} predicts {classes} classes and the dataset has {num_classes}. Fix: "
                         "use a teacher trained on this dataset.")
