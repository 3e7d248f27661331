"""Data: image pairs -> patches -> batches."""
