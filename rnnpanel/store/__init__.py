"""The on-disk, content-addressed Zarr store of hidden states and their projections."""

from rnnpanel.store.keys import content_key, entry_key, projection_key
from rnnpanel.store.state_store import StateStore, StoredEntry

__all__ = ["StateStore", "StoredEntry", "content_key", "entry_key", "projection_key"]
