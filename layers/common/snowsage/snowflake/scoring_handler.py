"""ML_PREDICT_<DATASET>: the body of the Python function Snowsage publishes into Snowflake.

No Lambda imports this file. PublishModel reads it as text and sends it, unchanged, as the
body of ``CREATE FUNCTION``, between its dollar quotes (``snowsage.snowflake.publishing``);
Snowflake runs it with the packages that statement names, and the sandbox runs the same text out
of the same statement (``sandbox/snowflake/functions.py``; a contract test ties the two together).

* The model is the file SageMaker's built-in XGBoost writes: ``model.tar.gz`` holding one file,
  ``xgboost-model`` (``bst.save_model``; aws/sagemaker-xgboost-container
  ``src/sagemaker_xgboost_container/algorithm_mode/train.py``), copied into an internal stage and
  named in ``IMPORTS``. Imports are read from ``sys._xoptions["snowflake_import_directory"]``
  (docs: developer-guide/udf/python/udf-python-creating, "Reading files").
* It is loaded once per Python process, at import, and kept for every batch the process scores.
* Vectorized: Snowflake hands ``predict`` batches of rows as a pandas DataFrame whose columns are
  the arguments by position (docs: developer-guide/udf/python/udf-python-batch,
  ``_sf_vectorized_input``), and takes back one value per row: a FLOAT for a binary or a
  regression model; for a multi-class model (``multi:softprob``) the class probabilities in class
  order, a list per row, which the function returns as ARRAY (an object column of lists; docs:
  udf-python-batch, "Type support"). PublishModel declares the return type from the plan's
  objective; the scores' shape says which one the model gives.
* The scores are the batch transform's: the same booster, ``predict`` with
  ``validate_features=False`` as the container's ``serve_utils.predict``; a NULL argument is a
  missing value, as an empty CSV field is for the transform.
"""

import os
import sys
import tarfile
import tempfile

import numpy
import pandas
import xgboost

MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "xgboost-model"


def load_booster(import_directory: str) -> xgboost.Booster:
    """The booster inside the imported ``model.tar.gz`` (its one ``xgboost-model`` member)."""
    with tarfile.open(os.path.join(import_directory, MODEL_ARCHIVE), "r:gz") as archive:
        member = archive.extractfile(MODEL_FILE)
        if member is None:
            raise ValueError(f"{MODEL_ARCHIVE} has no file {MODEL_FILE}")
        model = member.read()
    # Written out under the process's temporary directory (the only writable place), then loaded
    # by file name: how the container itself loads it, whatever xgboost's format for the version.
    path = os.path.join(tempfile.mkdtemp(prefix="snowsage-model-"), MODEL_FILE)
    with open(path, "wb") as handle:
        handle.write(model)
    booster = xgboost.Booster()
    booster.load_model(path)
    return booster


BOOSTER = load_booster(sys._xoptions["snowflake_import_directory"])


def predict(features: pandas.DataFrame) -> pandas.Series:
    """One score per row: a binary model's probability, a regression model's value, or a
    multi-class model's class probabilities (a list per row, in class order)."""
    values = features.to_numpy(dtype=numpy.float32, na_value=numpy.nan)
    matrix = xgboost.DMatrix(values, missing=numpy.nan)
    scores = BOOSTER.predict(matrix, validate_features=False).astype(numpy.float64)
    if scores.ndim == 2:
        return pandas.Series(scores.tolist(), dtype=object)
    return pandas.Series(scores)


predict._sf_vectorized_input = pandas.DataFrame  # type: ignore[attr-defined]
