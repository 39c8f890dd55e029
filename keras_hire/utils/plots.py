"""Matplotlib without a display, and figures written atomically as PNG."""

import io

from keras_hire.utils.atomic import atomic_write_bytes


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path, dpi=100):
    """Writes `figure` to `path` as PNG (atomically), closes it and returns `path`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path
