"""VGG-16 and the DeepLab variants, receptive fields, weight import."""
from .base import Model
from .deeplab import VARIANTS, DeepLab, VGG16, build_model, init_weights, is_classifier
from .io import MSRC_MODEL, load_model, load_msrc_model, save_model
from .pretrained import convert_vgg16, load_vgg16, read_state_dict
from .receptive import output_stride, paper_rf_size, receptive_field
