"""Patch slimming's phone speed: a slimmed DeiT-S@224 (about -45% MACs) against the full model, TFLite.

    python benchmarks/slimming_speed.py                      # DeiT-S@224, float32 + dynamic, 1 and 2 threads
    python benchmarks/slimming_speed.py --model=deit_tiny --target_reduction=0.45 --sweeps=5

The keep schedule keeps every token in the first --start_block blocks, then a geometric decay of the
token count (ratio chosen for --target_reduction of the MACs), the last block only the class token;
the kept tokens are a seeded random nested draw (scattered, the worst case for the one-time token
reordering). Speed does not depend on which tokens are kept or on the weights. Both models are
converted in this process, then timed alternately over --sweeps sweeps (the machine's speed moves):
per sweep the median of --runs invokes; the figures are medians over sweeps. The goal of issue 13:
latency reduction >= 0.8 x MAC reduction, and every op on XNNPACK. Writes <output>.json and .md.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", "deit_small", "Registry name of a ViT-family model.")
flags.DEFINE_integer("image_size", 224, "Input height = width.")
flags.DEFINE_float("target_reduction", 0.45, "MAC reduction the keep schedule aims at.")
flags.DEFINE_integer("start_block", 3, "Blocks that keep every token before the decay starts.")
flags.DEFINE_list("quantizations", ["float32", "dynamic"], "TFLite files to time.")
flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts.")
flags.DEFINE_integer("sweeps", 3, "Alternating timing sweeps.")
flags.DEFINE_integer("runs", 20, "Timed invokes per file, thread count and sweep.")
flags.DEFINE_integer("seed", 0, "Seed of the kept-token draw.")
flags.DEFINE_string("output", "benchmarks/results/slimming_speed", "Output stem (.json, .md).")
FLAGS = flags.FLAGS


def token_counts(depth, tokens, prefix, start_block, ratio):
    counts = [tokens if block < start_block else max(prefix, round(tokens * ratio ** (block - start_block + 1)))
              for block in range(depth)]
    counts[-1] = prefix  # the head reads only the prefix tokens of the last block
    return counts


def estimated_macs(model, counts, tokens):
    """Textbook MACs of a plain ViT block stack with these token counts (to pick the schedule)."""
    dim, hidden = model.embed_dim, int(model.embed_dim * model.mlp_ratio)
    total, n_in = 0, tokens
    for n in counts:
        total += 2 * n * dim * dim + 2 * n_in * dim * dim + 2 * n * n_in * dim + 2 * n * dim * hidden
        n_in = n
    return total


def schedule(model, tokens, target, start_block):
    """Bisection on the decay ratio for `target` reduction of the blocks' MACs."""
    prefix, depth = model.num_prefix_tokens, model.depth
    full = estimated_macs(model, [tokens] * depth, tokens)
    low, high = 0.0, 1.0
    for _ in range(40):
        ratio = (low + high) / 2
        reduction = 1 - estimated_macs(model, token_counts(depth, tokens, prefix, start_block, ratio), tokens) / full
        low, high = (ratio, high) if reduction > target else (low, ratio)
    return token_counts(depth, tokens, prefix, start_block, (low + high) / 2)


def nested_keep(counts, tokens, prefix, seed):
    import numpy as np

    rng = np.random.RandomState(seed)
    current = list(range(tokens))
    keep = []
    for count in counts:
        others = [t for t in current if t >= prefix]
        chosen = sorted(rng.choice(others, count - prefix, replace=False).tolist()) if count > prefix else []
        current = list(range(prefix)) + chosen
        keep.append(current)
    return keep


def main(_):
    import numpy as np

    from keras_hire.benchmark.coverage import format_not_delegated, xnnpack_coverage
    from keras_hire.benchmark.timing import benchmark_tflite
    from keras_hire.export import to_tflite
    from keras_hire.methods.slimming import slim, token_count
    from keras_hire.models import create_model
    from keras_hire.utils import count_macs
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    model = create_model(FLAGS.model, input_shape=(FLAGS.image_size, FLAGS.image_size, 3))
    tokens = token_count(model)
    counts = schedule(model, tokens, FLAGS.target_reduction, FLAGS.start_block)
    keep = nested_keep(counts, tokens, model.num_prefix_tokens, FLAGS.seed)
    models = {"full": model, "slimmed": slim(model, keep)}
    macs = {name: count_macs(m) for name, m in models.items()}
    print(f"token counts {counts}; MACs {macs['full'] / 1e9:.3f} G -> {macs['slimmed'] / 1e9:.3f} G", flush=True)
    files, coverage = {}, {}
    for name, m in models.items():
        for quantization in FLAGS.quantizations:
            print(f"converting {name} {quantization} ...", flush=True)
            files[name, quantization] = to_tflite(m, quantization=quantization)
            coverage[name, quantization] = format_not_delegated(xnnpack_coverage(files[name, quantization]))
    times = {key + (int(t),): [] for key in files for t in FLAGS.threads}
    for sweep in range(FLAGS.sweeps):
        for key in times:
            flatbuffer = files[key[:2]]
            times[key].append(benchmark_tflite(flatbuffer, num_threads=key[2], runs=FLAGS.runs)["median_ms"])
        print(f"sweep {sweep + 1}/{FLAGS.sweeps} done", flush=True)
    mac_reduction = 1 - macs["slimmed"] / macs["full"]
    rows = []
    for quantization in FLAGS.quantizations:
        for t in FLAGS.threads:
            full_ms = float(np.median(times["full", quantization, int(t)]))
            slim_ms = float(np.median(times["slimmed", quantization, int(t)]))
            latency_reduction = 1 - slim_ms / full_ms
            rows.append(dict(quantization=quantization, threads=int(t), full_ms=full_ms, slimmed_ms=slim_ms,
                             latency_reduction=latency_reduction,
                             ratio_to_mac_reduction=latency_reduction / mac_reduction,
                             not_delegated_full=coverage["full", quantization],
                             not_delegated_slimmed=coverage["slimmed", quantization]))
    result = dict(model=FLAGS.model, image_size=FLAGS.image_size, token_counts=counts, macs=macs,
                  mac_reduction=mac_reduction, sweeps=FLAGS.sweeps, runs=FLAGS.runs, rows=rows, keep=keep)
    lines = [f"# Patch slimming speed: {FLAGS.model}@{FLAGS.image_size}", "",
             f"Token counts per block {counts}; MACs {macs['full'] / 1e9:.3f} G -> {macs['slimmed'] / 1e9:.3f} G "
             f"(-{100 * mac_reduction:.1f}%).", "",
             "| TFLite | threads | full ms | slimmed ms | latency reduction | / MAC reduction | not on XNNPACK |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['quantization']} | {row['threads']} | {row['full_ms']:.2f} | {row['slimmed_ms']:.2f} | "
                     f"{100 * row['latency_reduction']:.1f}% | {row['ratio_to_mac_reduction']:.2f} | "
                     f"{row['not_delegated_full']} / {row['not_delegated_slimmed']} |")
    atomic_write_json(FLAGS.output + ".json", result)
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
