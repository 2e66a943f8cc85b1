"""Detector simulation: the embedded fast simulation, real Delphes, and the Delphes-schema ROOT files both write."""
