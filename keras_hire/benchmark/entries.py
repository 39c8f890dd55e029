"""`<registry name>:<input size>` entries, as the benchmark scripts' `--models` flags take them."""


def parse_model_entry(entry, default_size=224):
    """`"cmt_tiny:160"` -> `("cmt_tiny", 160)`; the size defaults to `default_size` when omitted."""
    name, _, size = entry.partition(":")
    if not name or (size and not size.isdigit()):
        raise ValueError(f"Model entry {entry!r} is not '<registry name>:<input size>', e.g. 'cmt_tiny:160'.")
    return name, int(size) if size else default_size


def benchmark_model(name, size, trained_like=True):
    """A registered model at `size` x `size`, with trained-like norm values unless `trained_like=False`."""
    from keras_hire.benchmark.trained_like import perturb_normalization
    from keras_hire.models import create_model

    model = create_model(name, input_shape=(size, size, 3))
    return perturb_normalization(model) if trained_like else model
