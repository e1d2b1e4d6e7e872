"""The autograd-free framework: forward/backward op pairs and stateful layers."""
from .conv import col2im, conv2d_im2col_backward, conv2d_im2col_forward, conv_output_size, im2col
from .functional import (
    IGNORE_INDEX, concat_backward, concat_forward, dropout_backward, dropout_forward,
    interp_backward, interp_forward, interp_matrix, log_softmax, relu_backward, relu_forward, relu_values,
    shrink_labels, shrink_size, softmax, softmax_cross_entropy_backward,
    softmax_cross_entropy_forward, sum_backward, sum_forward, zoom_size,
)
from .crf_layer import DenseCRF
from .gradcheck import numerical_gradient, rel_error
from .layers import AvgPool2d, Conv2d, Dropout, Layer, MaxPool2d, ReLU, Sequential, grad_enabled, no_grad
from .pool import (
    avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward, maxpool2d_values,
    pool_output_size,
)
from .winograd import conv2d_winograd_backward, conv2d_winograd_forward
from .direct import conv2d_direct_backward, conv2d_direct_forward
from .taps import conv2d_taps_backward, conv2d_taps_forward
