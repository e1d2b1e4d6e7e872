"""Datasets and transforms: synthetic scenes and unaries (always available), MSRC-21."""
from .balance import median_frequency_weights
from .msrc import MSRC, MSRCSamples
from .synthetic import SyntheticScenes, noisy_probs, thin_line_scene
from .transforms import MEAN_BGR, color_jitter, pad_to_multiple, preprocess, random_crop_mirror
