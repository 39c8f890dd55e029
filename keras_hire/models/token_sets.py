"""Patch slimming's static token sets (2106.02852) inside the ViT-family models: checks and token order."""

import operator

from keras_hire.layers.token_select import StaticTokenSelect


def keep_sets(keep):
    """A `keep` config value (lists from JSON, numpy arrays) as a tuple of tuples of ints."""
    return tuple(tuple(int(i) for i in block) for block in keep)


def check_keep(family, keep, depth, num_tokens, required, tokens):
    """Checks patch slimming's per-block token sets; returns them as `keep_sets` (None stays None).

    Args:
        family: the name errors start with.
        keep: None or one sorted list of original token indices per block.
        depth: the number of blocks.
        num_tokens: the number of tokens entering block 0.
        required: `{index: name}` of tokens every block must keep (the heads read them).
        tokens: what the tokens are, for messages (e.g. "1 prefix token(s) (class token) + 64 patches").
    """
    if keep is None:
        return None
    if isinstance(keep, (str, bytes, dict)) or not hasattr(keep, "__len__"):
        raise ValueError(f"{family}: keep must be a list of one sorted token-index list per block; received "
                         f"{keep!r}. Fix: pass e.g. keep=[[0, 1, 2, ...], ...] with {depth} lists, or None.")
    if len(keep) != depth:
        raise ValueError(
            f"{family}: keep has {len(keep)} token lists but the model has {depth} blocks. Fix: pass exactly one "
            f"sorted list of kept token indices per block (len(keep) == {depth})."
        )
    checked = []
    for block, indices in enumerate(keep):
        where = f"{family}: keep[{block}] (block {block})"
        if isinstance(indices, (str, bytes, dict)) or not hasattr(indices, "__iter__"):
            raise ValueError(f"{where} is {indices!r}, not a list of token indices. Fix: pass a sorted list of ints.")
        indices = list(indices)
        for value in indices:
            if isinstance(value, bool) or not _is_integer(value):
                raise ValueError(f"{where} holds {value!r}, not an int token index. Fix: pass ints.")
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError(f"{where} is empty. Fix: keep at least one token in every block.")
        for a, b in zip(indices, indices[1:]):
            if b <= a:
                raise ValueError(
                    f"{where} is not sorted ascending without repeats ({a} is followed by {b}). "
                    f"Fix: pass sorted(set(keep[{block}]))."
                )
        if indices[0] < 0 or indices[-1] >= num_tokens:
            bad = indices[0] if indices[0] < 0 else indices[-1]
            raise ValueError(
                f"{where} holds token index {bad}, outside [0, {num_tokens}): the model has {num_tokens} tokens "
                f"({tokens}). Fix: use original token indices below {num_tokens}."
            )
        missing = [index for index in required if index not in set(indices)]
        if missing:
            raise ValueError(
                f"{where} drops the {required[missing[0]]} (index {missing[0]}), which the head reads after the "
                f"last block. Fix: keep token(s) {sorted(required)} in every block."
            )
        if checked and not set(indices) <= set(checked[-1]):
            extra = sorted(set(indices) - set(checked[-1]))
            raise ValueError(
                f"{where} is not a subset of keep[{block - 1}] (block {block - 1}): tokens {extra} are kept by block "
                f"{block} but dropped by block {block - 1} (a dropped token stays dropped). Fix: add them to "
                f"keep[{block - 1}] or remove them from keep[{block}]."
            )
        checked.append(tuple(indices))
    return tuple(checked)


def _is_integer(value):
    try:
        operator.index(value)  # ints and numpy integers; not floats
    except TypeError:
        return False
    return True


class SlimmedOrder:
    """How a slimmed transformer holds its tokens, and the static selections that follows from it.

    Tokens are held ordered by the number of blocks that keep them (most first), ties by original
    index. The sets are nested, so each `keep[l]` is then a prefix: block `l` gets its queries and
    residual rows with one slice (`num_queries`), and only the embedding needs a reordering
    (`reorder`, slices and concatenations once). Intermediates and token outputs are given back in
    sorted original order. With `keep=None` every method is the identity and adds no layer.
    """

    def __init__(self, keep, num_tokens):
        self.keep = keep
        self.num_tokens = num_tokens
        if keep is None:
            self.order = list(range(num_tokens))
            self.counts = None
            return
        survival = {index: 0 for index in range(num_tokens)}
        for indices in keep:
            for index in indices:
                survival[index] += 1
        self.order = sorted(range(num_tokens), key=lambda index: (-survival[index], index))
        self.counts = [len(indices) for indices in keep]

    def tokens_in(self, block):
        """How many tokens enter `block`."""
        return self.num_tokens if self.counts is None or block == 0 else self.counts[block - 1]

    def tokens_out(self, block):
        return self.num_tokens if self.counts is None else self.counts[block]

    def num_queries(self, block):
        """`num_queries` of block `block`'s attention: None when it computes every token it receives."""
        out = self.tokens_out(block)
        return None if out == self.tokens_in(block) else out

    def keeps_all(self, block):
        return self.tokens_out(block) == self.num_tokens

    def reorder(self, x, name):
        if self.order == list(range(self.num_tokens)):
            return x
        return StaticTokenSelect(self.order, name=name)(x)

    def _sorting(self, count):
        """Positions that put the first `count` held tokens in sorted original order, or None if they are."""
        held = self.order[:count]
        positions = sorted(range(count), key=lambda position: held[position])
        return None if positions == list(range(count)) else positions

    def sorted_tokens(self, x, block, name, offset=0):
        """Block `block`'s output tokens `x` in sorted order (`offset` leading tokens stay first)."""
        positions = self._sorting(self.tokens_out(block))
        if positions is None:
            return x
        return StaticTokenSelect(list(range(offset)) + [offset + p for p in positions], name=name)(x)

    def sorted_attention(self, attention, block, name, offset=0):
        rows = self._sorting(self.tokens_out(block)) if offset == 0 else None
        columns = self._sorting(self.tokens_in(block))
        if rows is not None:
            attention = StaticTokenSelect(rows, axis=2, name=f"{name}.rows")(attention)
        if columns is not None:
            attention = StaticTokenSelect(list(range(offset)) + [offset + p for p in columns], axis=3,
                                          name=f"{name}.columns")(attention)
        return attention
