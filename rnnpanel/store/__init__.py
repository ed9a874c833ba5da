"""The on-disk, content-addressed Zarr store of hidden states and their projections."""

import warnings

from rnnpanel.store.keys import content_key, entry_key, projection_key
from rnnpanel.store.state_store import (
    LayerStates,
    StatesAddress,
    StateStore,
    StoredEntry,
)

# An entry keeps its words, its maps and its integrity record beside its arrays; Zarr, listing a
# group's members, warns about every such file or folder it does not own. Nothing is wrong.
warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr hierarchy")

__all__ = ["LayerStates", "StateStore", "StatesAddress", "StoredEntry", "content_key", "entry_key", "projection_key"]
