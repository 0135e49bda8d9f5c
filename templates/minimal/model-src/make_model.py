"""Re-create model/model.json, the sample model served by src/score.py.

Run from the project root:  python model-src/make_model.py

The sample is a fixed linear model, y = 1.0 + 0.5*x1 - 1.0*x2 + 2.0*x3: nothing is trained.
In a real project this is where your training code goes; save its output into model/ (the
folder registered as the Azure ML model) and adapt src/score.py to load it.
"""

from __future__ import annotations

import json
from pathlib import Path

MODEL = {
    "kind": "linear",
    "features": ["x1", "x2", "x3"],
    "coefficients": [0.5, -1.0, 2.0],
    "intercept": 1.0,
}


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "model" / "model.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(MODEL, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}: {json.dumps(MODEL)}")


if __name__ == "__main__":
    main()
