"""The recurrent classifier of the paper, generalised: embedding → recurrent layers → dropout → head
(a linear layer, or a small chain of layers such as an MLP)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnpanel.models.config import ModelConfig
from rnnpanel.models.heads import build_head

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

PAD_ID = 0


class RecurrentClassifier(nn.Module):
    """Classify a token sequence from the recurrent network's final state.

    The head reads the top layer's final state: for a unidirectional network ``h_T``; for a
    bidirectional one the forward ``h_T`` concatenated with the backward state at ``t = 1``
    (the backward direction's final state). Applying the same head to every ``h_t`` gives the
    *expected prediction* ``EP_t`` that the views show.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        self.rnn = RNN_CLASSES[config.cell](
            input_size=config.embedding_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = build_head(config.head_layers, config.state_size, config.n_classes)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, object]:
        """Run embedding and recurrent layers on a right-padded batch.

        Returns the top layer's padded per-step output ``(B, T, state_size)`` and the module's
        final state (``(h_n, c_n)`` for LSTM, ``h_n`` otherwise).
        """
        return self.encode_embedded(self.embedding(ids), lengths)

    def encode_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, object]:
        """:meth:`encode` from the embedded batch ``(B, T, embedding_dim)``."""
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])
        return out, final

    def final_state(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The head's input: last valid forward step (and first backward step when bidirectional)."""
        idx = (lengths.to(out.device) - 1).clamp(min=0)
        rows = torch.arange(out.shape[0], device=out.device)
        last = out[rows, idx]
        if not self.config.bidirectional:
            return last
        hs = self.config.hidden_size
        return torch.cat([last[:, :hs], out[:, 0, hs:]], dim=1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)``.

        A unidirectional network's state at step ``t < length`` never sees the right padding
        after it, so its padded batch runs unpacked (the head reads step ``length - 1``): on a CPU
        the backward pass through packed sequences of unequal lengths is 5–10× slower, which
        made training minutes longer. A bidirectional network's backward half must not read
        the padding, so it stays packed.
        """
        return self.forward_embedded(self.embedding(ids), lengths)

    def forward_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from the embedded batch ``(B, T, embedding_dim)``: the same logits, and a
        graph that gradients with respect to the embedded words flow through (word importance)."""
        if self.config.bidirectional:
            out, _ = self.encode_embedded(emb, lengths)
        else:
            out, _ = self.rnn(emb)
        return self.head(self.dropout(self.final_state(out, lengths)))
