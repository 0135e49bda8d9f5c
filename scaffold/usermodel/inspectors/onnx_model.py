"""Run an ONNX model with ONNX Runtime on given inputs, in the interpreter scaffold was given.

Usage: python onnx_model.py MODEL.onnx FEED_JSON_FILE
FEED_JSON_FILE: [{"name", "shape", "dtype", "data"}, ...] (shapes as the model takes them).
Prints `SCAFFOLD-INSPECT [{"name", "shape", "data"}, ...]` for every output, in graph order.
Exit 3 (module name on stderr) when onnxruntime or numpy is missing.
"""

import json
import sys

MARKER = "SCAFFOLD-INSPECT "


def main():
    try:
        import numpy
        import onnxruntime
    except ImportError as error:
        sys.stderr.write((error.name or "onnxruntime") + "\n")
        sys.exit(3)
    with open(sys.argv[2], encoding="utf-8") as handle:
        feed_spec = json.load(handle)
    session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    feed = {
        item["name"]: numpy.array(item["data"], dtype=item["dtype"]).reshape(item["shape"])
        for item in feed_spec
    }
    names = [output.name for output in session.get_outputs()]
    results = session.run(names, feed)
    print(
        MARKER
        + json.dumps(
            [
                {"name": name, "shape": list(result.shape), "data": result.reshape(-1).tolist()}
                for name, result in zip(names, results)
            ]
        )
    )


if __name__ == "__main__":
    main()
