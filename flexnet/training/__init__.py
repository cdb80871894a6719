"""The training engine, apart from the models it trains.

``trainer`` holds the loops (:class:`Trainer`), ``step`` the training step as one
unit, ``data_adapter`` everything about incoming data, and ``compile_utils`` what
``compile`` decides for each output (loss, weight, metrics, fused loss).
"""

from flexnet.training.compile_utils import CompiledLoss, CompiledMetrics, CompileSpec, Head
from flexnet.training.data_adapter import ArrayData, DataAdapter
from flexnet.training.step import TrainStep
from flexnet.training.trainer import Trainer

__all__ = ["ArrayData", "CompileSpec", "CompiledLoss", "CompiledMetrics", "DataAdapter", "Head",
           "TrainStep", "Trainer"]
