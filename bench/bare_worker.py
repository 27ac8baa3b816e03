"""The xgboost half of bench/bare.py: runs INSIDE the image's xgboost environment, like the emulator's
``sandbox/sagemaker/worker.py``, so both sides of the emulator-vs-bare comparison run the same
xgboost in the same interpreter with the same threads.

Details: bench/README.md, "bare_worker.py".
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb


def _matrix(spec: dict[str, Any], nthread: int) -> Any:
    return xgb.DMatrix(np.load(spec["features"]), label=np.load(spec["labels"]), nthread=nthread)


def train(request: dict[str, Any]) -> dict[str, Any]:
    nthread = int(request["nthread"])
    evals = [(_matrix(request["train"], nthread), "train")]
    if request.get("validation"):
        evals.append((_matrix(request["validation"], nthread), "validation"))
    early = request.get("early_stopping_rounds")
    started = time.perf_counter()
    booster = xgb.train(
        {**request["params"], "nthread": nthread},
        evals[0][0],
        num_boost_round=int(request["num_round"]),
        evals=evals,
        early_stopping_rounds=int(early) if early and len(evals) > 1 else None,
        verbose_eval=False,
    )
    compute = time.perf_counter() - started
    booster.save_model(request["model_path"])
    return {"compute_seconds": compute, "rounds": booster.num_boosted_rounds()}


class Predictor:
    def __init__(self) -> None:
        self.booster: Any = None
        self.nthread = 0

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        self.booster = xgb.Booster()
        self.booster.load_model(request["model"])
        self.nthread = 0
        return {}

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        matrix = np.load(request["matrix"])
        if int(request["nthread"]) != self.nthread:
            self.nthread = int(request["nthread"])
            self.booster.set_param({"nthread": self.nthread})
        started = time.perf_counter()
        predictions = self.booster.inplace_predict(matrix)
        compute = time.perf_counter() - started
        np.save(request["out"], np.asarray(predictions, dtype=np.float32))
        return {"compute_seconds": compute}


def _emulator_worker() -> Any:
    """sandbox/sagemaker/worker.py, loaded by path: this interpreter has xgboost, not the sandbox."""
    path = Path(__file__).resolve().parents[1] / "sandbox" / "sagemaker" / "worker.py"
    spec = importlib.util.spec_from_file_location("emulator_worker", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    # the emulator's own request loop: both sides of the comparison speak the protocol alike
    _emulator_worker().serve(train, Predictor())


if __name__ == "__main__":
    main()
