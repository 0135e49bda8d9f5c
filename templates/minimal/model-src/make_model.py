"""Re-create the sample model(s) in model/, served by src/score.py.

Run from the project root:
    python model-src/make_model.py           # one model:  model/model.json
    python model-src/make_model.py --multi   # multi-model: model/model-a.json, model/model-b.json

The samples are fixed linear models, nothing is trained:
    model (and model-a): y =  1.0 + 0.5*x1 - 1.0*x2  + 2.0*x3
    model-b:             y = -0.5 + 2.0*x1 + 0.25*x2 - 1.5*x3
src/score.py serves every *.json file in model/, named by its file name, so write only the set
your project uses. In a real project this is where your training code goes; save its output
into model/ (the folder registered as the Azure ML model) and adapt src/score.py to load it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MODEL_DIR = Path(__file__).resolve().parent.parent / "model"


def linear(coefficients: list[float], intercept: float) -> dict[str, Any]:
    return {
        "kind": "linear",
        "features": ["x1", "x2", "x3"],
        "coefficients": coefficients,
        "intercept": intercept,
    }


SINGLE = {"model": linear([0.5, -1.0, 2.0], 1.0)}
MULTI = {
    "model-a": linear([0.5, -1.0, 2.0], 1.0),
    "model-b": linear([2.0, 0.25, -1.5], -0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multi", action="store_true",
                        help="write the two multi-model samples instead of model/model.json")
    args = parser.parse_args()
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    for name, model in (MULTI if args.multi else SINGLE).items():
        out = MODEL_DIR / f"{name}.json"
        out.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}: {json.dumps(model)}")
    served = sorted(p.stem for p in MODEL_DIR.rglob("*.json"))
    print(f"src/score.py will serve {len(served)} model(s) from {MODEL_DIR}: {served}")


if __name__ == "__main__":
    main()
