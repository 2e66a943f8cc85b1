"""Beauchesne, Chen and Chiang: CWoLa on jet images, transfer and meta-transfer learning."""
