"""Greedy network enlarging (Liu et al., arXiv 2108.00177) over GhostNets; docs/enlarging.md."""

from keras_hire.methods.enlarging.config import EnlargeConfig
from keras_hire.methods.enlarging.run import run_enlarging
from keras_hire.methods.enlarging.search import greedy_search
from keras_hire.methods.enlarging.space import EnlargeState, candidates, compound_state, width_state

__all__ = ["EnlargeConfig", "EnlargeState", "candidates", "compound_state", "greedy_search", "run_enlarging",
           "width_state"]
