"""Which files of a ``model.tar.gz`` the emulator's batch transform loads as the model, as the XGBoost
container's ``serve_utils.get_loaded_booster`` does (sandbox/sagemaker/serving.py, ``model_files``)."""

from __future__ import annotations

import pytest

from sandbox.sagemaker.serving import ServingError, model_files
from sandbox.sagemaker.transform import TransformError, model_file
from tests.sandbox.emulator_helpers import model_archive


def test_the_one_file_is_the_model_whatever_its_name() -> None:
    assert model_file(model_archive({"xgboost-model": b"booster"})) == b"booster"
    assert model_file(model_archive({"./model.json": b"booster"})) == b"booster"


def test_the_ensemble_loads_every_top_level_file_but_dotfiles() -> None:
    files = {"xgboost-model-0": b"a", "xgboost-model-1": b"b", "./.DS_Store": b"c", "sub/xgboost-model": b"d"}
    assert model_files(model_archive(files), ensemble=True) == [
        ("xgboost-model-0", b"a"),
        ("xgboost-model-1", b"b"),
    ]


def test_without_the_ensemble_several_files_are_refused_naming_them() -> None:
    # the container would load the first os.listdir gives: an order the file system picks
    with pytest.raises(TransformError, match="holds 2 files") as refused:
        model_file(model_archive({"xgboost-model": b"booster", "features.json": b"[]"}))
    assert "features.json, xgboost-model" in str(refused.value)


@pytest.mark.parametrize("ensemble", [True, False])
def test_an_archive_without_a_model_file_fails_as_the_container_does(ensemble: bool) -> None:
    # serve_utils.py line 194: models[0] of no file
    with pytest.raises(ServingError, match="Unable to load model: list index out of range"):
        model_files(model_archive({".DS_Store": b"x"}), ensemble=ensemble)
