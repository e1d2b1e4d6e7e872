"""Datasets and transforms: synthetic scenes (always available), MSRC-21."""
from .msrc import MSRC, MSRCSamples
from .synthetic import SyntheticScenes
from .transforms import MEAN_BGR, pad_to_multiple, preprocess, random_crop_mirror
