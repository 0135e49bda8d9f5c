"""Run a TorchScript model on sample instances, in the interpreter scaffold was given, the
way the generated TorchServe handler does.

Usage: python torchscript_model.py MODEL.pt REQUEST_JSON_FILE
REQUEST_JSON_FILE: {"instances": [...], "inputs": [[name, dtype], ...]}: rows for one input,
objects with one value per input name for several.
Prints `SCAFFOLD-INSPECT {"torch": version, "predictions": ...}`.
Exit 3 (module name on stderr) when torch is missing.
"""

import json
import sys

MARKER = "SCAFFOLD-INSPECT "


def jsonable(out):
    if hasattr(out, "tolist"):
        return out.tolist()
    if isinstance(out, dict):
        return {str(key): jsonable(value) for key, value in out.items()}
    if isinstance(out, (list, tuple)):
        return [jsonable(value) for value in out]
    return out


def main():
    try:
        import torch
    except ImportError as error:
        sys.stderr.write((error.name or "torch") + "\n")
        sys.exit(3)
    module = torch.jit.load(sys.argv[1], map_location="cpu").eval()
    with open(sys.argv[2], encoding="utf-8") as handle:
        request = json.load(handle)
    instances = request["instances"]
    specs = request.get("inputs") or [["input", "float32"]]
    if all(isinstance(row, dict) for row in instances):
        tensors = [
            torch.tensor([row[name] for row in instances], dtype=getattr(torch, dtype))
            for name, dtype in specs
        ]
    else:
        tensors = [torch.tensor(instances, dtype=getattr(torch, specs[0][1]))]
    with torch.no_grad():
        predictions = jsonable(module(*tensors))
    print(MARKER + json.dumps({"torch": torch.__version__, "predictions": predictions}))


if __name__ == "__main__":
    main()
