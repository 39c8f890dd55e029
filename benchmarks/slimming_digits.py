"""Patch slimming reproduced on the embedded digits: searched sets at two tolerances against static baselines.

    python training/train.py --model=deit_tiny --image_size=28 --channels=1 --epochs=15 \\
        --model_kwargs='{"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 2}' \\
        --learning_rate=1e-3 --warmup_epochs=1 --model_dir=runs/deit_digits
    python benchmarks/slimming_digits.py --model=runs/deit_digits/model.keras --tolerances=0.01,0.02 \\
        --output=benchmarks/results/slimming_digits

For each seed (the draw of --search_images training digits the search measures on, and the
fine-tuning order): the paper's search at each tolerance, then at the same per-block token counts
(equal MACs) two static baselines: random nested sets, and EViT-style fixed top-k by the class
token's attention (block l keeps the tokens of block l-1 that block l's class-token row attends to
most, averaged over the draw). Every row is fine-tuned the same --finetune_epochs on the shared
trainer and scored on the 1,000 test digits. Writes <output>.json and <output>.md (MACs, top-1 mean
and spread over the seeds, TFLite float32 latency at 1 thread of seed 0's model).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", None, "The trained .keras DeiT (a training/train.py run's model.keras).", required=True)
flags.DEFINE_list("tolerances", ["0.01", "0.02"], "Search tolerances (the paper's epsilon).")
flags.DEFINE_integer("seeds", 3, "Seeds (search draw and fine-tuning order).")
flags.DEFINE_integer("search_images", 256, "Training digits the search measures on.")
flags.DEFINE_integer("granularity", 10, "r0.")
flags.DEFINE_integer("block_epochs", 3, "Block fine-tuning epochs per candidate.")
flags.DEFINE_integer("finetune_epochs", 3, "Whole-model fine-tuning epochs of every row.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate of the whole-model fine-tune.")
flags.DEFINE_list("rows", ["full", "full_finetuned", "ours", "random", "cls_attention"],
                  "Rows to run: the trained model, the same fine-tuned (every token kept), the search, the baselines.")
flags.DEFINE_string("workdir", "runs/slimming_digits", "Runs of the fine-tunes and the searches.")
flags.DEFINE_string("output", "benchmarks/results/slimming_digits", "Output stem (.json, .md).")
FLAGS = flags.FLAGS


def cls_attention_keep(model, images, counts):
    """EViT-style static sets: block l keeps the prefix and the top tokens of block l-1 by class-token attention."""
    taps = model.intermediate_model([f"attn_{i}" for i in range(model.depth)]).predict(images, verbose=0)
    prefix = model.num_prefix_tokens
    current = list(range(taps["attn_0"].shape[-1]))
    keep = []
    for block, count in enumerate(counts):
        weight = taps[f"attn_{block}"][:, :, 0, :].mean(axis=(0, 1))  # class token's row, over images and heads
        others = sorted((t for t in current if t >= prefix), key=lambda t: (-weight[t], t))
        current = sorted(list(range(prefix)) + others[:count - prefix])
        keep.append(current)
    return keep


def random_keep(counts, tokens, prefix, seed):
    import numpy as np

    rng = np.random.RandomState(seed)
    current, keep = list(range(tokens)), []
    for count in counts:
        others = [t for t in current if t >= prefix]
        current = list(range(prefix)) + sorted(rng.choice(others, count - prefix, replace=False).tolist())
        keep.append(current)
    return keep


def finetune(model, keep, name, seed, images, labels):
    """Fine-tunes `slim(model, keep)` on the digits with the shared trainer; returns (model, test top-1)."""
    import numpy as np

    from keras_hire.methods.slimming import slim
    from keras_hire.training import TrainConfig, train

    height = model.inputs[0].shape[1]
    config = TrainConfig(model="deit_tiny", dataset="mnist_5k", image_size=int(height), channels=1,
                         epochs=FLAGS.finetune_epochs, learning_rate=FLAGS.learning_rate, warmup_epochs=0, seed=seed,
                         model_dir=os.path.join(FLAGS.workdir, f"{name}_seed{seed}"), tensorboard=False, verbose=2)
    slimmed = slim(model, keep)
    if FLAGS.finetune_epochs > 0:
        weights = os.path.join(config.model_dir, "start.weights.h5")
        os.makedirs(config.model_dir, exist_ok=True)
        slimmed.save_weights(weights)

        def build(run_config, num_classes, input_shape):
            fresh = slim(model, keep)
            fresh.load_weights(weights)
            return fresh

        train(config, build_model=build)
        import keras

        slimmed = keras.models.load_model(os.path.join(config.model_dir, "model.keras"), compile=False)
    accuracy = float(np.mean(slimmed.predict(images, verbose=0).argmax(-1) == labels))
    return slimmed, accuracy


def main(_):
    import keras
    import numpy as np

    from keras_hire import data
    from keras_hire.benchmark.timing import benchmark_tflite
    from keras_hire.export import to_tflite
    from keras_hire.methods.slimming import search_keep_sets, token_count
    from keras_hire.utils import count_macs
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    model = keras.models.load_model(FLAGS.model, compile=False)
    height, width, channels = model.inputs[0].shape[1:]
    test_images, test_labels = data.eval_arrays(data.get_source("mnist_5k", "test"), (height, width), channels,
                                                crop_fraction=1.0)
    tokens, prefix = token_count(model), model.num_prefix_tokens
    results, models = {}, {}

    def record(row, seed, slimmed, accuracy, keep):
        entry = results.setdefault(row, dict(top1=[], macs=count_macs(slimmed), counts=[len(k) for k in keep]))
        entry["top1"].append(accuracy)
        models.setdefault(row, slimmed)
        print(f"[slimming_digits] seed {seed} {row}: {100 * accuracy:.2f}% at {entry['macs'] / 1e6:.2f} M MACs",
              flush=True)
        atomic_write_json(FLAGS.output + ".json", dict(results=results, flags={k: FLAGS[k].value for k in (
            "tolerances", "seeds", "search_images", "granularity", "block_epochs", "finetune_epochs")}))

    if "full" in FLAGS.rows:
        full_accuracy = float(np.mean(model.predict(test_images, verbose=0).argmax(-1) == test_labels))
        results["full model"] = dict(top1=[full_accuracy] * FLAGS.seeds, macs=count_macs(model),
                                     counts=[tokens] * model.depth)
        models["full model"] = model
    for seed in range(FLAGS.seeds):
        if "full_finetuned" in FLAGS.rows:  # the same extra epochs, nothing dropped: what fine-tuning alone gives
            everything = [list(range(tokens))] * model.depth
            slimmed, accuracy = finetune(model, everything, "full", seed, test_images, test_labels)
            record("full model + the same fine-tune", seed, slimmed, accuracy, everything)
        if not {"ours", "random", "cls_attention"} & set(FLAGS.rows):
            continue
        search_images, _ = data.eval_arrays(data.get_source("mnist_5k", "train"), (height, width), channels,
                                            limit=FLAGS.search_images, crop_fraction=1.0, shuffle_seed=seed)
        for tolerance in FLAGS.tolerances:
            if "ours" not in FLAGS.rows:
                continue
            result = search_keep_sets(model, search_images, tolerance=float(tolerance),
                                      granularity=FLAGS.granularity, block_epochs=FLAGS.block_epochs,
                                      state_dir=os.path.join(FLAGS.workdir, f"search_{tolerance}_seed{seed}"))
            counts = [len(k) for k in result.keep]
            slimmed, accuracy = finetune(result.model, result.keep, f"ours_{tolerance}", seed, test_images,
                                         test_labels)
            record(f"patch slimming eps={tolerance}", seed, slimmed, accuracy, result.keep)
            baselines = []
            if "random" in FLAGS.rows:
                baselines.append((f"random static (counts of eps={tolerance})",
                                  random_keep(counts, tokens, prefix, seed)))
            if "cls_attention" in FLAGS.rows:
                baselines.append((f"class-attention top-k (counts of eps={tolerance})",
                                  cls_attention_keep(model, search_images, counts)))
            for row, keep in baselines:
                slimmed, accuracy = finetune(model, keep, row.split(" ")[0] + f"_{tolerance}", seed, test_images,
                                             test_labels)
                record(row, seed, slimmed, accuracy, keep)
    lines = [f"Top-1 on the 1,000 test digits, mean ± std over {FLAGS.seeds} seeds; every slimmed row fine-tuned "
             f"{FLAGS.finetune_epochs} epochs; latency: TFLite float32, 1 thread, XNNPACK.", "",
             "| row | tokens per block | MACs (M) | top-1 (%) | latency (ms) |", "|---|---|---|---|---|"]
    for row, entry in results.items():
        values = 100 * np.asarray(entry["top1"])
        latency = benchmark_tflite(to_tflite(models[row]), num_threads=1, runs=50)["median_ms"]
        entry["latency_ms"] = latency
        lines.append(f"| {row} | {entry['counts']} | {entry['macs'] / 1e6:.2f} | {values.mean():.2f} ± "
                     f"{values.std():.2f} | {latency:.3f} |")
    atomic_write_json(FLAGS.output + ".json", dict(results=results))
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
