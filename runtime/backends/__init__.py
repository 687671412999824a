"""Segmentation backends: one folder per backend, heavy imports done lazily."""
