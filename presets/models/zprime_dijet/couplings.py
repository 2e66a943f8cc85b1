"""Couplings (UFO section 3.5): the factor of each vertex's Feynman rule besides its colour and Lorentz parts."""

from .object_library import Coupling, all_couplings

# Quark-gluon vertex i g_s gamma^mu T^a.
GC_qqg = Coupling(name="GC_qqg", value="complex(0,1)*G", order={"QCD": 1})
# Three-gluon vertex: GC_ggg f^{a1 a2 a3} VVV.  The sign relative to the quark-gluon vertex follows from the
# momentum convention of the Lorentz structure; MadGraph's BRS check (`check brs u u~ > g g`, `u g > u g g`,
# `t t~ > g g`) passes with -G and fails with +G (README.md).
GC_ggg = Coupling(name="GC_ggg", value="-G", order={"QCD": 1})
# Four-gluon vertex i g_s^2 sum over the three colour-Lorentz pairs.
GC_gggg = Coupling(name="GC_gggg", value="complex(0,1)*G**2", order={"QCD": 2})
# Z' vertex i g_q gamma^mu, the same for every quark (pure vector, flavour diagonal).
GC_zpqq = Coupling(name="GC_zpqq", value="complex(0,1)*gq", order={"ZPQ": 1})
