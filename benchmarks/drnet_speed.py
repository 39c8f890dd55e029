"""DRNet on the phone path (LiteRT + XNNPACK, batch 1): per-signature latency of the multi-signature
file, and the average per-image latency of a trained DRNet against its full-resolution classifier.

    python benchmarks/drnet_speed.py --drnet=runs/drnet_digits/per_resolution_seed0/stage2/model.keras \\
        --num_images=300 --output=benchmarks/results/drnet_speed

Part 1 (always): DR-ResNet-50 (random weights, 1000 classes) at 224/168/112 with the official
predictor at 128: each signature's median latency over alternating sweeps, its MACs and the file size against one
single-resolution file, and, for each of the paper's average-MAC operating points (Table 3: 2.3, 2.7,
3.2 and 3.7 G), the range of expected per-image latency over every mix of resolutions that averages
those MACs (predictor + chosen signature, from the medians; the paper gives no per-resolution mix).
Part 2 (with --drnet): over --num_images held-out digits, the mean latency
of predictor + chosen `classify_<r>` (what `DRNetRunner.classify` runs) against `classify_<largest>`
alone (both after every signature's warm-up), beside the MAC reduction; then each signature's median
and the per-image latency those medians predict at DRNet's mix of resolutions. Part-1 times are
medians of --runs invokes in one process, so the ratios compare like with like on this machine.
"""

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_string("drnet", None, "A trained DRNet .keras file (training/drnet.py's stage2/model.keras).")
flags.DEFINE_integer("num_images", 300, "Held-out images of part 2.")
flags.DEFINE_integer("runs", 20, "Timed invokes per signature and sweep (part 1).")
flags.DEFINE_integer("sweeps", 5, "Alternating sweeps over the signatures (part 1); medians are reported.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_bool("resnet50", True, "Run part 1 (DR-ResNet-50).")
flags.DEFINE_string("output", "benchmarks/results/drnet_speed", "Output stem (.json, .md).")
FLAGS = flags.FLAGS


def signature_ms(runner, image, runs):
    """Median milliseconds of one signature call (after 3 untimed ones: XNNPACK packs weights lazily)."""
    import numpy as np

    for _ in range(3):
        runner(images=image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(images=image)
        times.append(1e3 * (time.perf_counter() - start))
    return float(np.median(times))


PAPER_AVERAGE_GMACS = (2.3, 2.7, 3.2, 3.7)  # DR-ResNet-50, Table 3 (alpha = 2.0, 2.5, 3.0, 3.5)


def latency_range_at(signatures, resolutions, target_macs):
    """(least, most) expected ms per image over mixes of `resolutions` whose average MACs (predictor
    included) equal `target_macs`. Both are linear in the mix, so the extremes lie on mixes of two
    resolutions; None when no mix reaches the target."""
    predictor = signatures["predictor"]
    chosen = [signatures[f"classify_{r}"] for r in resolutions]
    points = [(predictor["macs"] + row["macs"], predictor["ms"] + row["ms"]) for row in chosen]
    latencies = []
    for low_macs, low_ms in points:
        for high_macs, high_ms in points:
            if low_macs <= target_macs <= high_macs and high_macs > low_macs:
                share = (high_macs - target_macs) / (high_macs - low_macs)
                latencies.append(share * low_ms + (1 - share) * high_ms)
    return (min(latencies), max(latencies)) if latencies else None


def operating_points(signatures, resolutions):
    full = signatures[f"classify_{resolutions[0]}"]
    rows = []
    for gmacs in PAPER_AVERAGE_GMACS:
        span = latency_range_at(signatures, resolutions, gmacs * 1e9)
        if span is not None:
            mac_cut = 1 - gmacs * 1e9 / full["macs"]
            cuts = [1 - ms / full["ms"] for ms in span]
            rows.append({"avg_gmacs": gmacs, "mac_reduction": mac_cut, "ms_range": list(span),
                         "latency_reduction_range": [min(cuts), max(cuts)],
                         "goal_met": bool(min(cuts) >= 0.8 * mac_cut)})
    return rows


def signature_rows(runner, drnet, image):
    """`{signature: {"macs", "ms"}}`: each signature's MACs and median latency over alternating sweeps."""
    from keras_hire.benchmark.sweeps import alternate, medians, progress
    from keras_hire.utils import count_macs

    classifier = drnet.classifier
    names = ["predictor", *(f"classify_{size}" for size in classifier.resolutions)]
    measures = {name: lambda n=name: signature_ms(runner.runners[n], image, FLAGS.runs) for name in names}
    latency = medians(alternate(measures, FLAGS.sweeps, lambda s, _: progress(f"sweep {s + 1}/{FLAGS.sweeps} done")))
    models = [drnet.predictor, *(classifier.classifier_at(i) for i in range(len(classifier.resolutions)))]
    return {name: {"macs": count_macs(model), "ms": latency[name]} for name, model in zip(names, models)}


def resnet50_part(results):
    import numpy as np

    from keras_hire.export import DRNetRunner, export_drnet, to_tflite
    from keras_hire.methods.dynamic_resolution import DRNet, resolution_costs, resolution_predictor
    from keras_hire.models.dr_resnet import DRResNet

    classifier = DRResNet("bottleneck", (3, 4, 6, 3), resolutions=(224, 168, 112))
    predictor = resolution_predictor(3)
    drnet = DRNet(classifier, predictor, resolution_costs(classifier, predictor))
    flatbuffer = export_drnet(drnet)
    runner = DRNetRunner(flatbuffer, num_threads=FLAGS.threads)
    image = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    rows = signature_rows(runner, drnet, image)
    single = len(to_tflite(classifier.classifier_at(0)))
    results["resnet50"] = {"signatures": rows, "file_bytes": len(flatbuffer), "single_classifier_bytes": single,
                           "m_separate_bytes_estimate": 3 * single + len(to_tflite(predictor)),
                           "operating_points": operating_points(rows, classifier.resolutions)}


def digits_part(results):
    import keras
    import numpy as np

    from keras_hire.export import DRNetRunner, export_drnet
    from keras_hire.methods import dynamic_resolution  # noqa: F401  (registers DRNet for loading)
    from keras_hire.training import TrainConfig
    from keras_hire.training.run_data import prepare_data

    drnet = keras.models.load_model(FLAGS.drnet, compile=False)
    runner = DRNetRunner(export_drnet(drnet), num_threads=FLAGS.threads)
    run = prepare_data(TrainConfig(model="resnet18", image_size=drnet.resolutions[0]))
    images = np.concatenate([x.numpy() for x, _ in run.eval_stream(100)])[:FLAGS.num_images]
    full = runner.runners[f"classify_{drnet.resolutions[0]}"]
    for signature in runner.runners.values():  # XNNPACK packs each signature's weights at its first invoke
        for _ in range(3):
            signature(images=images[:1])
    dynamic_ms, full_ms, chosen = [], [], []
    for image in images:
        image = image[None]
        start = time.perf_counter()
        result = runner.classify(image)
        dynamic_ms.append(1e3 * (time.perf_counter() - start))
        start = time.perf_counter()
        full(images=image)
        full_ms.append(1e3 * (time.perf_counter() - start))
        chosen.append(result["resolution"])
    costs = dict(zip(drnet.resolutions, drnet.costs))  # predictor included
    macs = [costs[size] for size in chosen]
    # Where the time goes: each signature alone, and the per-image mean those medians predict at
    # DRNet's mix (the runner's own Python work is the difference to `dynamic_ms`).
    signatures = signature_rows(runner, drnet, images[:1])
    full_macs = signatures[f"classify_{drnet.resolutions[0]}"]["macs"]
    mac_reduction = 1 - float(np.mean(macs)) / full_macs
    latency_reduction = 1 - float(np.mean(dynamic_ms)) / float(np.mean(full_ms))
    mix = {"predictor": 1.0, **{f"classify_{size}": chosen.count(size) / len(chosen) for size in drnet.resolutions}}
    expected_ms = sum(share * signatures[name]["ms"] for name, share in mix.items())
    results["digits"] = {"images": len(images), "dynamic_ms": float(np.mean(dynamic_ms)),
                         "full_ms": float(np.mean(full_ms)), "avg_macs": float(np.mean(macs)), "full_macs": full_macs,
                         "mac_reduction": mac_reduction, "latency_reduction": latency_reduction,
                         "goal_met": bool(latency_reduction >= 0.8 * mac_reduction), "mix": mix,
                         "signatures": signatures, "expected_ms_from_signatures": expected_ms}


def main(argv):
    del argv
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    results = {"threads": FLAGS.threads}
    if FLAGS.resnet50:
        resnet50_part(results)
    if FLAGS.drnet:
        digits_part(results)
    atomic_write_json(FLAGS.output + ".json", results)
    lines = []
    if "resnet50" in results:
        part = results["resnet50"]
        lines += ["| DR-ResNet-50 signature | GMACs | median ms |", "|---|---|---|"]
        lines += [f"| {name} | {row['macs'] / 1e9:.3f} | {row['ms']:.1f} |" for name, row in part["signatures"].items()]
        lines += ["", f"File: {part['file_bytes'] / 1e6:.1f} MB (one classifier alone: "
                  f"{part['single_classifier_bytes'] / 1e6:.1f} MB; m separate files + predictor: "
                  f"{part['m_separate_bytes_estimate'] / 1e6:.1f} MB).", "",
                  "| average GMACs (paper) | MAC cut | expected ms per image | latency cut | goal (>= 0.8x) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {p['avg_gmacs']:.1f} | {100 * p['mac_reduction']:.1f}% | {p['ms_range'][0]:.1f}-"
                  f"{p['ms_range'][1]:.1f} | {100 * p['latency_reduction_range'][0]:.1f}-"
                  f"{100 * p['latency_reduction_range'][1]:.1f}% | {'met' if p['goal_met'] else 'not met'} |"
                  for p in part["operating_points"]]
        lines += [""]
    if "digits" in results:
        part = results["digits"]
        lines += ["| digits DRNet | mean ms per image | avg MACs |", "|---|---|---|",
                  f"| predictor + chosen classify | {part['dynamic_ms']:.3f} | {part['avg_macs'] / 1e6:.2f} M |",
                  f"| classify at the largest resolution | {part['full_ms']:.3f} | {part['full_macs'] / 1e6:.2f} M |",
                  "", f"MAC reduction {100 * part['mac_reduction']:.1f}%, latency reduction "
                  f"{100 * part['latency_reduction']:.1f}% (goal: >= 0.8x the MAC reduction: "
                  f"{'met' if part['goal_met'] else 'not met'}).", "",
                  "| digits signature | MMACs | median ms | share of the digits |", "|---|---|---|---|"]
        lines += [f"| {name} | {row['macs'] / 1e6:.2f} | {row['ms']:.3f} | {100 * part['mix'][name]:.0f}% |"
                  for name, row in part["signatures"].items()]
        lines += ["", f"Predictor + chosen signature from these medians: {part['expected_ms_from_signatures']:.3f} ms "
                  "per digit."]
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
