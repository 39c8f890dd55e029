"""Patch slimming (arXiv 2106.02852): static, nested per-block token sets found top-down.

Public: `slim` (a slimmed model of the same family and weights), `patch_significance` (the paper's
score), `search_keep_sets` (Algorithm 1, resumable). See docs/slimming.md.
"""

from keras_hire.methods.slimming.search import SearchResult, search_keep_sets
from keras_hire.methods.slimming.significance import patch_significance, unslimmed
from keras_hire.methods.slimming.slim import check_slimmable, full_keep, required_tokens, slim, token_count

__all__ = ["SearchResult", "check_slimmable", "full_keep", "patch_significance", "required_tokens",
           "search_keep_sets", "slim", "token_count", "unslimmed"]
