"""The on-disk, content-addressed Zarr store of hidden states and their projections."""

from rnnpanel.store.keys import content_key, entry_key, projection_key
from rnnpanel.store.state_store import (
    LayerStates,
    StatesAddress,
    StateStore,
    StoredEntry,
)

__all__ = ["LayerStates", "StateStore", "StatesAddress", "StoredEntry", "content_key", "entry_key", "projection_key"]
