"""Peer TFLite files (other converters' files of the same model) listed by a manifest.

`benchmarks/peers/` writes the manifest: a JSON list of `{"model", "size", "runtime",
"quantization", "path"}` entries, `path` relative to the manifest's folder.
"""

import json
import os

from keras_hire.benchmark.sweeps import progress


def load_peers(manifest_path, log=progress):
    """Peer files by (model, size): `{(model, size): {label: path}}`; empty without a manifest.

    A missing manifest, or a listed file that does not exist, is logged and skipped: the
    benchmark then times keras_hire's files only.
    """
    if not manifest_path or not os.path.exists(manifest_path):
        log(f"[speed] no peer manifest at {manifest_path!r}: timing keras_hire files only "
            "(see benchmarks/peers/README.md)")
        return {}
    peers = {}
    with open(manifest_path) as handle:
        for entry in json.load(handle):
            path = os.path.join(os.path.dirname(manifest_path), entry["path"])
            label = f"{entry['runtime']}, {entry['quantization']}"
            if not os.path.exists(path):
                log(f"[speed] {manifest_path} lists {path}, which does not exist: skipped "
                    "(run the exporter again, see benchmarks/peers/README.md)")
                continue
            peers.setdefault((entry["model"], int(entry["size"])), {})[label] = path
    return peers
