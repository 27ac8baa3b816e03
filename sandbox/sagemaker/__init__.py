"""Local SageMaker emulator for the built-in XGBoost algorithm (training, models, batch transform)."""

from sandbox.sagemaker.emulator import SageMakerEmulator
from sandbox.sagemaker.errors import SageMakerError
from sandbox.sagemaker.faults import FaultPlan

__all__ = ["FaultPlan", "SageMakerEmulator", "SageMakerError"]
