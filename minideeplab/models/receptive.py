"""Receptive field and output stride of a model, layer by layer.

For a layer with kernel ``k``, dilation ``d``, stride ``s`` and padding ``p``, with
``J`` the output stride (jump) of its input and ``k_eff = d (k - 1) + 1``::

    RF_out = RF_in + (k_eff - 1) * J        J_out = J * s

The exact RF of DeepLab-LargeFOV's fc8 is much larger than the paper's "RF size"
column (224): the paper counts only the span of fc6's taps in input pixels plus one
32-pixel cell, ``8 * dilation * (k - 1) + 32`` (:func:`paper_rf_size`), which gives
VGG-16's 224 for its own 7x7 fc6 at stride 32 (``32 * 6 + 32``).
"""
from __future__ import annotations

from ..nn.layers import Conv2d, MaxPool2d, AvgPool2d


def receptive_field(model, upto=None):
    """Rows ``dict(layer, kernel, stride, dilation, padding, rf, jump)`` along the trunk.

    Parameters
    ----------
    model : a :class:`~minideeplab.models.Model`
    upto : optional layer name at which to stop (inclusive)

    Returns
    -------
    list of dict, one per conv/pool layer; ``rf`` is the receptive field in input
    pixels (one side), ``jump`` the output stride after the layer.
    """
    rows, rf, jump = [], 1, 1
    for layer in model.layers:
        if isinstance(layer, (Conv2d, MaxPool2d, AvgPool2d)):
            k, s, d, p = layer.kernel_size[0], layer.stride[0], layer.dilation[0], layer.padding[0]
            rf += d * (k - 1) * jump
            jump *= s
            rows.append(dict(layer=layer.name, kernel=k, stride=s, dilation=d, padding=p, rf=rf, jump=jump))
        if upto is not None and layer.name == upto:
            break
    return rows


def output_stride(model) -> int:
    """The product of the strides along the trunk (8 for every DeepLab variant)."""
    return receptive_field(model)[-1]["jump"]


def paper_rf_size(kernel: int, dilation: int, input_stride: int = 8) -> int:
    """The "RF size" column of the DeepLab paper's Table 2: ``stride * dilation * (k-1) + 32``."""
    return input_stride * dilation * (kernel - 1) + 32
