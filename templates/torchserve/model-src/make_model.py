"""Write the weights of the sample half_plus_two model (y = 0.5 * x + 2) as JSON.

Run from the project root (model-src/build-mar.sh does this for you):
    python model-src/make_model.py --out /tmp/half_plus_two.json

The model is a torch.nn.Linear(1, 1) with weight 0.5 and bias 2.0: nothing is trained. In a
real project this is where your training code goes.

Why JSON and not torch.save / TorchScript: the .mar is usually built on a workstation whose
torch is newer than the one inside the serving image (pytorch/torchserve:0.12.0-cpu ships an
older torch). Files written by torch.save or torch.jit.save of a newer torch are not
guaranteed to load in an older one. The state_dict as plain numbers loads into the same
nn.Module in any torch version, and model-src/handler.py rebuilds the module and calls
load_state_dict(). For your own model you can keep this pattern (fine for small models), or
save with `torch.save(model.state_dict(), ...)` using the SAME torch version as the image
(`docker run --rm --entrypoint python <image> -c "import torch; print(torch.__version__)"`)
and change handler.py to torch.load(..., weights_only=True).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

FORMAT = "scaffold-state-dict-json/1"


def build_model() -> torch.nn.Module:
    """The sample model: y = 0.5 * x + 2."""
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(0.5)
        model.bias.fill_(2.0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True,
                        help="where to write the weights (e.g. /tmp/half_plus_two.json)")
    args = parser.parse_args()

    model = build_model()
    document = {
        "format": FORMAT,
        "module": "torch.nn.Linear(in_features=1, out_features=1)",
        "state_dict": {name: tensor.tolist() for name, tensor in model.state_dict().items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {json.dumps(document['state_dict'], sort_keys=True)}")


if __name__ == "__main__":
    main()
