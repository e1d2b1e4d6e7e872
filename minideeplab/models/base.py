"""A model is an ordered list of named layers plus optional side heads.

``params`` / ``grads`` are ordered dicts ``"<layer>.<param>" -> array`` (views of
the layers' own arrays: updating them in place updates the model).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._io import FileFormatError, read_npz, save_npz
from ..backend import asnumpy, get_array_module
from ..subnormal import flush_subnormals
from ..nn.layers import Conv2d, Layer, Sequential, forward_fused, fused


class Model:
    """Layers in forward order (``self.layers``) and side heads tapping some of them.

    ``heads`` maps the name of a trunk layer (or ``"data"`` for the input) to a
    :class:`Sequential` whose output is added to the trunk's final output.
    """

    name = "model"

    def __init__(self, layers, heads=None):
        self.layers: list[Layer] = list(layers)
        self.heads: "OrderedDict[str, Sequential]" = OrderedDict(heads or {})
        names = [l.name for l in self.all_layers() if l.params]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter layer names must be unique: {names}")
        known = {"data"} | {l.name for l in self.layers}
        for tap in self.heads:
            if tap not in known:
                raise ValueError(f"head taps unknown layer {tap!r}")
        self.training = True

    # ------------------------------------------------------------- structure
    def all_layers(self):
        out = list(self.layers)
        for head in self.heads.values():
            out.extend(head.layers)
        return out

    @property
    def params(self):
        return OrderedDict((f"{l.name}.{k}", v) for l in self.all_layers() for k, v in l.params.items())

    @property
    def grads(self):
        return OrderedDict((f"{l.name}.{k}", v) for l in self.all_layers() for k, v in l.grads.items())

    def num_params(self) -> int:
        return int(sum(int(np.prod(v.shape)) for v in self.params.values()))

    def layer(self, name: str) -> Layer:
        for l in self.all_layers():
            if l.name == name:
                return l
        raise KeyError(name)

    def train(self):
        self.training = True
        for l in self.all_layers():
            l.training = True
        return self

    def eval(self):
        self.training = False
        for l in self.all_layers():
            l.training = False
        return self

    # ------------------------------------------------------------- passes
    def forward(self, x):
        """``(N, 3, H, W)`` -> ``(N, L, h, w)`` class scores."""
        taps = {}
        if "data" in self.heads:
            taps["data"] = self.heads["data"].forward(x)
        for layer, relu in fused(self.layers, keep=self.heads):
            x = forward_fused(layer, relu, x)
            last = relu if relu is not None else layer
            if last.name in self.heads:
                taps[last.name] = self.heads[last.name].forward(x)
        for tap, s in taps.items():
            if s.shape != x.shape:
                raise ValueError(
                    f"head on {tap!r} gives scores {s.shape} but the trunk gives {x.shape}; "
                    "choose an input size whose pooled sizes line up (e.g. 8k + 1)"
                )
            x = x + s
        return x

    __call__ = forward

    def backward(self, dscores, input_grad=True):
        """Back-propagate ``dscores`` (shape of the output); fills ``self.grads``; returns dx,
        the gradient with respect to the input. Training needs only the parameters' gradients:
        ``input_grad=False`` returns None and saves the first convolution's input-gradient pass."""
        head_dx = {tap: head.backward(dscores) for tap, head in self.heads.items()}
        d = dscores
        first = self.layers[0]
        for layer in reversed(self.layers):
            if layer.name in head_dx:
                d = d + head_dx[layer.name]
            if layer is first and not input_grad and isinstance(first, Conv2d) and "data" not in head_dx:
                first.backward(d, input_grad=False)
                return None
            d = layer.backward(d)
        if "data" in head_dx:
            d = d + head_dx["data"]
        return d if input_grad else None

    def zero_grad(self):
        for l in self.all_layers():
            l.grads.clear()

    # ------------------------------------------------------------- (de)serialisation
    def astype(self, dtype):
        for l in self.all_layers():
            for k, v in l.params.items():
                l.params[k] = v.astype(dtype)
        return self

    def to(self, xp_module):
        """Move parameters to ``numpy`` or ``cupy``."""
        for l in self.all_layers():
            for k, v in l.params.items():
                l.params[k] = xp_module.asarray(asnumpy(v)) if xp_module is not np else asnumpy(v)
        return self

    def state_dict(self):
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the parameters, in place (shapes must match; dtype is kept),
        so optimisers holding the parameter arrays stay valid. Subnormal values are copied as
        zeros (:mod:`minideeplab.subnormal`: they change no score and slow every product).

        Every array is checked (name, shape, real numbers, all finite) before any is
        copied, so a ``ValueError`` leaves the model as it was."""
        own = {}
        for l in self.all_layers():
            for k in l.params:
                own[f"{l.name}.{k}"] = (l, k)
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"state does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        todo = []
        for key, value in state.items():
            if key not in own:
                continue
            layer, k = own[key]
            cur = layer.params[k]
            if tuple(value.shape) != tuple(cur.shape):
                raise ValueError(f"{key}: shape {tuple(value.shape)} does not match the model's {tuple(cur.shape)}")
            if value.dtype.kind not in "biuf":
                raise ValueError(f"{key}: dtype {value.dtype} is not a real number type")
            if value.dtype.kind == "f" and not bool(get_array_module(value).isfinite(value).all()):
                raise ValueError(f"{key}: holds NaN or infinite values")
            todo.append((cur, value))
        for cur, value in todo:
            xp = get_array_module(cur)
            cur[...] = xp.asarray(value, dtype=cur.dtype)
            flush_subnormals(cur)
        return self

    def save(self, path):
        """Save the parameters to ``.npz`` (atomically; no pickles)."""
        save_npz(path, self.params)

    def load(self, path):
        """Load parameters saved by :meth:`save` (any description in the file is left out).

        :class:`~minideeplab.FileFormatError` (naming the file) if it is not a readable
        ``.npz`` or its arrays are not this model's; the model is then left unchanged.
        """
        arrays, _ = read_npz(path)
        try:
            return self.load_state_dict(arrays)
        except (ValueError, TypeError) as exc:
            raise FileFormatError(path, f"its arrays do not fit {self.name}: {exc}") from exc

    def summary(self) -> str:
        rows = [f"{self.name}: {self.num_params():,} parameters"]
        for l in self.all_layers():
            n = sum(int(np.prod(v.shape)) for v in l.params.values())
            rows.append(f"  {l!r}" + (f"  [{n:,}]" if n else ""))
        return "\n".join(rows)
