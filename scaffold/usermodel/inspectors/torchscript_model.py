"""Run a TorchScript model on given rows, in the interpreter scaffold was given.

Usage: python torchscript_model.py MODEL.pt ROWS_JSON_FILE|-
Prints `SCAFFOLD-INSPECT {"torch": version, "width": int|null, "rows": [...],
"predictions": [...]}`: with "-", rows as wide as the model's first 2-D weight.
Exit 3 (module name on stderr) when torch is missing.
"""

import json
import sys

MARKER = "SCAFFOLD-INSPECT "


def main():
    try:
        import torch
    except ImportError as error:
        sys.stderr.write((error.name or "torch") + "\n")
        sys.exit(3)
    module = torch.jit.load(sys.argv[1], map_location="cpu").eval()
    widths = [int(p.shape[1]) for p in module.parameters() if p.dim() == 2]
    width = widths[0] if widths else None
    if sys.argv[2] != "-":
        with open(sys.argv[2], encoding="utf-8") as handle:
            rows = json.load(handle)["instances"]
    elif width is not None:
        rows = [[round(0.5 * (r + c + 1), 1) for c in range(width)] for r in range(2)]
    else:
        rows = None
    predictions = None
    if rows is not None:
        with torch.no_grad():
            predictions = module(torch.tensor(rows, dtype=torch.float32)).tolist()
    print(
        MARKER
        + json.dumps(
            {
                "torch": torch.__version__,
                "width": width,
                "rows": rows,
                "predictions": predictions,
            }
        )
    )


if __name__ == "__main__":
    main()
