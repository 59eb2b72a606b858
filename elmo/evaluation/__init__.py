"""The evaluation suite: does a model's contextual layers beat its context-free layer 0?

Frozen features only.  Each task reports one number per *view* of the model: every layer
(0 = context-free, then one per recurrent layer) and the average scalar mix.  Labelled data come
from pinned registry packages fetched into the data cache (:mod:`elmo.io.registry`); none of it is
committed.  :func:`run_evaluation` runs the tasks for a model and, as a control, for a
randomly initialised model of the same architecture.
"""

from elmo.evaluation.runner import TASKS, EvalSizes, run_evaluation

__all__ = ["TASKS", "EvalSizes", "run_evaluation"]
