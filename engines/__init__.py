"""Engines turn 16 kHz audio into ARKit weights; see base.Engine for the interface."""
