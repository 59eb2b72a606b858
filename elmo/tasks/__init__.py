"""Task models: the biLM adapted to classification or tagging (Peters et al. 2018, section 3).

A learned scalar mix of the frozen biLM's layers feeds a small head (linear, or a BiLSTM under
it); only the head and the mix are trained.  The parts by role: :mod:`~elmo.tasks.data`
(labelled files), :mod:`~elmo.tasks.heads` (the config and the model),
:mod:`~elmo.tasks.predict` (predictions and scores), :mod:`~elmo.tasks.train` (the loop),
:mod:`~elmo.tasks.bundle` (save/load) and :mod:`~elmo.tasks.command` (``elmo task``).
"""

from elmo.tasks.bundle import load_task, load_task_for_model, read_task_kind, require_frozen
from elmo.tasks.data import Dataset, Example, read_dataset, read_inputs
from elmo.tasks.heads import TaskConfig, TaskModel
from elmo.tasks.predict import TaskPredictor
from elmo.tasks.train import TrainResult, train_task

__all__ = [
    "Dataset",
    "Example",
    "TaskConfig",
    "TaskModel",
    "TaskPredictor",
    "TrainResult",
    "load_task",
    "load_task_for_model",
    "read_dataset",
    "read_inputs",
    "read_task_kind",
    "require_frozen",
    "train_task",
]
