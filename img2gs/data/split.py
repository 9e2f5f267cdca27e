"""Deterministic train / validation split by object: a hash of the object id, independent of the seed
and of the other objects, so an object never has samples in both splits and adding objects never
moves existing ones."""

from __future__ import annotations

import hashlib


def stable_hash(text: str) -> int:
    """63-bit integer hash of `text`, the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little") >> 1


def split_of(object_id: str, val_fraction: float) -> str:
    """"val" for a `val_fraction` share of object ids, else "train"."""
    return "val" if stable_hash(object_id) / 2**63 < val_fraction else "train"
