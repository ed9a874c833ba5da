"""Classification heads beyond one ``nn.Linear``: a chain of layers described in JSON.

Researchers often put a small MLP on the last state (``Linear → ReLU → Dropout → Linear``). A
converted model must save without pickle, so the head is stored as a list of layer specs in the
model's config (``head_layers``) plus ordinary tensors in the state dict. :func:`describe_head`
reads a user's head module (an ``nn.Sequential``, or any module whose forward is a plain chain of
supported layers and activations) into that list; the adapter then runs both once on the same
inputs to check they agree.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rnnpanel.errors import ModelError

#: Parameter-free layers by spec kind: how to build each, and which modules / functions they cover.
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
                                            "silu": nn.SiLU, "identity": nn.Identity}
_FUNCTIONS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh", F.gelu: "gelu",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.silu: "silu", F.dropout: "dropout",
}
_METHODS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
#: Trailing layers that turn logits into probabilities: dropped, the app applies its own softmax.
_PROBABILITY_TAILS = ("softmax", "log_softmax")
_TAILS = {"softmax": lambda z: torch.softmax(z, -1), "log_softmax": lambda z: torch.log_softmax(z, -1),
          "sigmoid": torch.sigmoid}
SUPPORTED = "Linear, ReLU, Tanh, GELU, Sigmoid, SiLU, LeakyReLU, ELU, Dropout, LayerNorm, Identity"


def build_head(layers: Sequence[dict[str, Any]], state_size: int, n_classes: int) -> nn.Module:
    """The head module a config describes: one ``nn.Linear`` when ``layers`` is empty."""
    if not layers:
        return nn.Linear(state_size, n_classes)
    return nn.Sequential(*(_build_layer(spec) for spec in layers))


def _build_layer(spec: dict[str, Any]) -> nn.Module:
    kind = spec.get("kind")
    if kind == "linear":
        return nn.Linear(int(spec["in"]), int(spec["out"]), bias=bool(spec.get("bias", True)))
    if kind == "dropout":
        return nn.Dropout(float(spec.get("p", 0.0)))
    if kind == "leaky_relu":
        return nn.LeakyReLU(float(spec.get("negative_slope", 0.01)))
    if kind == "elu":
        return nn.ELU(float(spec.get("alpha", 1.0)))
    if kind == "layer_norm":
        return nn.LayerNorm(int(spec["size"]), eps=float(spec.get("eps", 1e-5)),
                            elementwise_affine=bool(spec.get("affine", True)))
    if kind in _ACTIVATIONS:
        return _ACTIVATIONS[kind]()
    raise ModelError(f"unknown head layer {kind!r} in the model config; supported: {SUPPORTED}")


def _spec_of_module(module: nn.Module, where: str) -> dict[str, Any]:
    if isinstance(module, nn.Linear):
        return {"kind": "linear", "in": module.in_features, "out": module.out_features, "bias": module.bias is not None}
    if isinstance(module, nn.Dropout):
        return {"kind": "dropout", "p": float(module.p)}
    if isinstance(module, nn.LeakyReLU):
        return {"kind": "leaky_relu", "negative_slope": float(module.negative_slope)}
    if isinstance(module, nn.ELU):
        return {"kind": "elu", "alpha": float(module.alpha)}
    if isinstance(module, nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            raise ModelError(
                f"head layer {where} normalises over {tuple(module.normalized_shape)}; only 1-D LayerNorm fits a state"
            )
        return {"kind": "layer_norm", "size": int(module.normalized_shape[0]), "eps": float(module.eps),
                "affine": bool(module.elementwise_affine)}
    if isinstance(module, nn.Softmax):
        return {"kind": "softmax"}
    if isinstance(module, nn.LogSoftmax):
        return {"kind": "log_softmax"}
    for kind, cls in _ACTIVATIONS.items():
        if type(module) is cls:
            return {"kind": kind}
    raise ModelError(f"head layer {where} is a {type(module).__name__}; a head may chain only {SUPPORTED}")


def _chain(head: nn.Module) -> list[tuple[dict[str, Any], nn.Module | None]]:
    """The head's layers in the order its forward applies them, with the modules that hold weights."""
    if isinstance(head, nn.Sequential):
        steps: list[tuple[dict[str, Any], nn.Module | None]] = []
        for name, child in head.named_children():
            steps.extend(_chain(child) if isinstance(child, nn.Sequential) else [(_spec_of_module(child, name), child)])
        return steps
    if not list(head.children()):
        return [(_spec_of_module(head, type(head).__name__), head)]
    return _traced_chain(head)


def _traced_chain(head: nn.Module) -> list[tuple[dict[str, Any], nn.Module | None]]:
    """Follow a custom head's forward with torch.fx: every step must read the previous one only."""
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(head).graph
    except Exception as exc:  # fx refuses data-dependent control flow and the like
        raise ModelError(
            f"the head {type(head).__name__} could not be traced ({exc}); give an nn.Sequential of {SUPPORTED}"
        ) from None
    steps: list[tuple[dict[str, Any], nn.Module | None]] = []
    previous = None
    for node in graph.nodes:
        if node.op == "placeholder":
            if previous is not None:
                raise ModelError(
                    f"the head {type(head).__name__} takes more than one input; it must read the final state only"
                )
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise ModelError(f"the head {type(head).__name__} does not return the end of one chain of layers")
            break
        if not node.args or node.args[0] is not previous or any(isinstance(a, torch.fx.Node) for a in node.args[1:]):
            raise ModelError(
                f"the head {type(head).__name__}'s forward is not a plain chain of layers (at {node.name}); "
                f"give an nn.Sequential of {SUPPORTED}"
            )
        if node.op == "call_module":
            module = head.get_submodule(node.target)
            steps.extend(
                _chain(module)
                if isinstance(module, nn.Sequential)
                else [(_spec_of_module(module, node.target), module)]
            )
        elif node.op == "call_function" and node.target in _FUNCTIONS:
            kind = _FUNCTIONS[node.target]
            steps.append(({"kind": "dropout", "p": 0.0} if kind == "dropout" else {"kind": kind}, None))
        elif node.op == "call_function" and node.target in (F.softmax, torch.softmax):
            steps.append(({"kind": "softmax"}, None))
        elif node.op == "call_function" and node.target in (F.log_softmax, torch.log_softmax):
            steps.append(({"kind": "log_softmax"}, None))
        elif node.op == "call_method" and node.target in _METHODS:
            steps.append(({"kind": _METHODS[node.target]}, None))
        elif node.op == "call_function" and node.target is operator.getitem:
            raise ModelError(f"the head {type(head).__name__} indexes its input; it must read the whole final state")
        else:
            raise ModelError(f"the head {type(head).__name__} calls {node.target!r}; a head may chain only {SUPPORTED}")
        previous = node
    return steps


_FUNCTION_MODULES: dict[str, Any] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "silu": nn.SiLU, "dropout": nn.Dropout,
    "softmax": lambda: nn.Softmax(dim=-1), "log_softmax": lambda: nn.LogSoftmax(dim=-1),
}


def traced_head(model: nn.Module) -> nn.Sequential:
    """The layers a whole model's forward applies after its recurrent module, read with torch.fx.

    For the common hand-written head (``self.fc2(F.relu(self.fc1(h_n[-1])))``): from the output
    back to the first step that is not a head layer (indexing ``h_n``, a concatenation, the
    recurrent module). Packing calls are kept opaque so the forward traces.
    """
    import torch.fx
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    try:
        graph = torch.fx.Tracer(autowrap_functions=(pack_padded_sequence, pad_packed_sequence)).trace(model)
    except Exception as exc:
        raise ModelError(
            f'the forward of {type(model).__name__} could not be traced ({exc}); name the head: head="..."'
        ) from None
    node = next(n for n in graph.nodes if n.op == "output").args[0]
    steps: list[nn.Module] = []
    while (
        isinstance(node, torch.fx.Node) and node.args and not any(isinstance(a, torch.fx.Node) for a in node.args[1:])
    ):
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            if isinstance(module, (nn.RNNBase, nn.Embedding)):
                break
            steps.append(module)
        elif node.op == "call_function" and node.target in _FUNCTIONS:
            steps.append(_FUNCTION_MODULES[_FUNCTIONS[node.target]]())
        elif node.op == "call_function" and node.target in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax):
            steps.append(_FUNCTION_MODULES["log_softmax" if "log" in node.target.__name__ else "softmax"]())
        elif node.op == "call_method" and node.target in _METHODS:
            steps.append(_FUNCTION_MODULES[_METHODS[node.target]]())
        else:
            break
        node = node.args[0]
    if not any(isinstance(m, nn.Linear) or list(m.parameters()) for m in steps):
        raise ModelError(
            f'no head layers found at the end of {type(model).__name__}\'s forward; name the head: head="..."'
        )
    return nn.Sequential(*reversed(steps))


def describe_head(head: nn.Module, state_size: int, where: str) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """``head`` as ``(layer specs, state dict of the equivalent nn.Sequential)``, checked by running both once.

    A trailing softmax or log-softmax is dropped (the logits it reads give the same
    probabilities); a trailing sigmoid over one output is dropped too, and the single logit
    ``z`` becomes the two logits ``[0, z]`` (``softmax([0, z])[1] == sigmoid(z)``).
    """
    chain = _chain(head)
    tail = None
    if chain and chain[-1][0]["kind"] in _PROBABILITY_TAILS:
        tail = chain.pop()[0]["kind"]
    linears = [spec for spec, _ in chain if spec["kind"] == "linear"]
    if not linears:
        raise ModelError(f"{where} has no nn.Linear; the head must map the final state to class logits")
    if tail is None and chain[-1][0]["kind"] == "sigmoid" and linears[-1]["out"] == 1:
        tail = chain.pop()[0]["kind"]
    if linears[0]["in"] != state_size:
        raise ModelError(
            f"{where} reads {linears[0]['in']} features but the recurrent layer's final state has {state_size}; "
            "the head must read the last layer's final state"
        )
    specs = [dict(spec) for spec, _ in chain]
    rebuilt = nn.Sequential(*(_build_layer(spec) for spec in specs))
    state: dict[str, torch.Tensor] = {}
    for i, (_spec, module) in enumerate(chain):
        if module is not None:
            state.update({f"{i}.{k}": v.detach().to("cpu", torch.float32) for k, v in module.state_dict().items()})
    rebuilt.load_state_dict(state)
    _check_once(head, rebuilt, state_size, where, tail=tail)
    last = max(i for i, spec in enumerate(specs) if spec["kind"] == "linear")
    if specs[last]["out"] == 1:  # one logit z → [0, z]
        if last != len(specs) - 1:
            raise ModelError(
                f"{where} ends in a {specs[-1]['kind']} after a single output; a head must end in its logits"
            )
        specs[last]["out"] = 2
        w, b = state[f"{last}.weight"], state.get(f"{last}.bias")
        state[f"{last}.weight"] = torch.cat([torch.zeros_like(w), w])
        if b is not None:
            state[f"{last}.bias"] = torch.cat([torch.zeros_like(b), b])
    return specs, state


def _check_once(head: nn.Module, rebuilt: nn.Module, state_size: int, where: str, tail: str | None) -> None:
    """Both heads, in eval mode, on the same random states: the rebuilt chain must reproduce the logits."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, state_size, generator=generator)
    modes = [(m, m.training) for m in head.modules()]   # restored one by one: a traced head wraps the user's modules
    head.eval()
    try:
        with torch.no_grad():
            param = next(head.parameters(), None)
            theirs = head(x.to(param.device, param.dtype) if param is not None else x).float().cpu()
            ours = rebuilt.eval()(x)
    finally:
        for module, training in modes:
            module.training = training
    if tail is not None:
        ours = _TAILS[tail](ours)
    if theirs.shape != ours.shape or float((theirs - ours).abs().max()) > 1e-5:
        raise ModelError(f"{where}: the layers read from the head do not reproduce its output; "
                         f"its forward must apply its layers in order (supported: {SUPPORTED})")
