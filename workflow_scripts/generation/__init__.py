"""Event generation: Pythia 8 cards per sample, the embedded Pythia 8 run in chunks, HepMC3 output."""
