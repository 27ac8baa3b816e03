"""The emulator's batch transform accepts a model archive the XGBoost container reads the same way
in every image: one file, the booster (sandbox/sagemaker/transform.py, ``model_file``)."""

from __future__ import annotations

import io
import tarfile

import pytest

from sandbox.sagemaker.transform import TransformError, model_file


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_the_one_file_is_the_model_whatever_its_name() -> None:
    assert model_file(archive({"xgboost-model": b"booster"})) == b"booster"
    assert model_file(archive({"model.json": b"booster"})) == b"booster"


@pytest.mark.parametrize(
    "files",
    [
        {"xgboost-model": b"booster", "features.json": b"[]"},  # older images may load either
        {"xgboost-model": b"host 0", "xgboost-model-1": b"host 1"},  # newer ones: an ensemble
        {},
    ],
)
def test_an_archive_of_several_files_or_none_is_refused_naming_them(files: dict[str, bytes]) -> None:
    with pytest.raises(TransformError, match=f"holds {len(files)} files") as refused:
        model_file(archive(files))
    for name in files:
        assert name in str(refused.value)
