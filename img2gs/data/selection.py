"""Which validation samples an evaluation uses: spread over every data source, not the first N of
the build order (which would be procedural objects only).

An object's source is the first part of its id: "procedural", "organic", or "meshes" (a mesh folder).
"""

from __future__ import annotations

from collections import defaultdict


def data_source(object_id: str) -> str:
    return object_id.split("/", 1)[0]


def spread_samples(object_ids: list[str], n: int) -> list[int]:
    """Up to `n` sample indices, as evenly as possible over the sources, evenly spaced within each;
    returned in source order ("procedural", "organic", "meshes", then any other)."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for index, object_id in enumerate(object_ids):
        by_source[data_source(object_id)].append(index)
    order = sorted(by_source, key=lambda s: (["procedural", "organic", "meshes"] + [s]).index(s))
    quota = {s: 0 for s in order}
    remaining = min(n, len(object_ids))
    while remaining:  # round-robin quotas, skipping exhausted sources
        for source in order:
            if remaining and quota[source] < len(by_source[source]):
                quota[source] += 1
                remaining -= 1
    chosen = []
    for source in order:
        indices, k = by_source[source], quota[source]
        chosen += [indices[(j * len(indices)) // k] for j in range(k)] if k else []
    return chosen
