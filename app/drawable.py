"""Which networks the page can stream and draw (dense so far): one answer for the session, which
refuses the others, and the catalog, which offers only lessons the page can play."""

from __future__ import annotations

from collections.abc import Iterable

PAGE_LAYER_KINDS = frozenset({"dense"})


def undrawable_kinds(kinds: Iterable[str]) -> list[str]:
    """The layer kinds among ``kinds`` the page cannot draw yet, sorted (empty: all drawable)."""
    return sorted(set(kinds) - PAGE_LAYER_KINDS)
