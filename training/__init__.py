"""Lip-sync model pipeline: synthesis, teacher, training, export (not used at run time)."""
