"""A worker process: `python -m keras_hire.methods.enlarging.worker --storage=S --study=NAME --num_classes=N`.

Start any number, on any machine that shares the storage; each trains queued candidates until none is left.
"""

import argparse
import json
import os


def main(argv=None):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="Optuna RDB URL or journal file of the search")
    parser.add_argument("--study", required=True, help="the step's study name (enlarge_step_NN)")
    parser.add_argument("--num_classes", type=int, required=True)
    args = parser.parse_args(argv)
    from keras_hire.methods.enlarging.distributed import work

    print(json.dumps({"pid": os.getpid(), "trained": work(args.storage, args.study, args.num_classes)}), flush=True)


if __name__ == "__main__":
    main()
