"""rnnpanel: see how a recurrent network's hidden state carries information to a prediction.

Data flows one way: ``data`` → ``models`` → ``compute`` → ``store`` → ``pipeline`` → ``views`` → ``app``;
a module never imports one further down that list.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``rnnpanel.explore`` is imported on first use: importing rnnpanel stays light (no torch, no Panel)."""
    if name == "explore":
        from rnnpanel.explorer import explore

        return explore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["explore"]
