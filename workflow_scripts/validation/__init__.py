"""Checks of the generation shortcuts: generator-level cuts, and the embedded detector against Delphes."""
