"""The per-hierarchy cache: shared per document, bounded by entries and bytes, LRU."""

from __future__ import annotations

from llamatouch.evaluator.stepview import HierarchyCache


def doc(i: int, size: int = 0) -> bytes:
    return f'<hierarchy><node text="{i}" bounds="[0,0][1,1]"/></hierarchy>'.encode() + b" " * size


def test_same_document_same_entry_and_counts():
    cache = HierarchyCache(max_entries=4)
    a = cache.get(doc(1))
    assert cache.get(bytes(doc(1))) is a  # equal bytes, another object: same entry
    assert cache.get(doc(2)) is not a
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)


def test_least_recently_used_goes_first():
    cache = HierarchyCache(max_entries=2)
    one, two = cache.get(doc(1)), cache.get(doc(2))
    assert cache.get(doc(1)) is one  # 1 is now the most recent
    cache.get(doc(3))  # evicts 2
    assert cache.get(doc(1)) is one
    assert cache.get(doc(2)) is not two


def test_bounded_by_bytes_and_disabled_by_zero():
    cache = HierarchyCache(max_entries=100, max_bytes=300)
    big = doc(1, 400)
    assert cache.get(big) is not cache.get(big)  # larger than the budget: never kept
    for i in range(10):
        cache.get(doc(i, 50))
    assert 0 < len(cache) <= 300 // len(doc(0, 50))
    cache.resize(0)
    assert len(cache) == 0 and cache.get(doc(1)) is not cache.get(doc(1))
