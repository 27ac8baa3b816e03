"""The xgboost half of bench/bare.py: runs INSIDE the image's xgboost environment, like the emulator's
``sandbox/sagemaker/worker.py``, so both sides of the emulator-vs-bare comparison run the same
xgboost in the same interpreter with the same threads.

Details: bench/README.md, "bare_worker.py".
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
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


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever xgboost prints goes to stderr, never into the protocol stream
    sys.stdout = sys.stderr
    predictor = Predictor()
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "train": train,
        "load": predictor.load,
        "predict": predictor.predict,
        "version": lambda _: {"xgboost": xgb.__version__},
    }
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": True, **handlers[request["cmd"]](request)}
        except Exception as exc:
            answer = {"ok": False, "kind": "AlgorithmError", "message": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
