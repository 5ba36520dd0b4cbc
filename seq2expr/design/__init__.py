"""Sequence design on a saved model (greedy/beam substitution, simulated annealing, motif insertion, ledidi),
under constraints, validated by an oracle held out of the search; every candidate is scored through
:mod:`seq2expr.inference`.
"""

from seq2expr.design.constraints import Constraints
from seq2expr.design.designer import DesignResult, design, diversity, random_starts
from seq2expr.design.objective import Objective, Scorer
from seq2expr.design.output import write_design_outputs

__all__ = ["Constraints", "DesignResult", "Objective", "Scorer", "design", "diversity", "random_starts",
           "write_design_outputs"]
