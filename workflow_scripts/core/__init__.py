"""Shared plumbing: configuration, seeds, atomic file outputs, flat arrays, kinematics, devices, tables."""
