"""Vertices (UFO section 3.4).  Fermion vertices list the antiquark first, then the quark; colour indices are
particle positions: T(3,2,1) is T^{a3}_{i2 j1}, f(...) the SU(3) structure constants, Identity(1,2) delta_{i2 j1}."""

from . import couplings as C
from . import lorentz as L
from . import particles as P
from .object_library import Vertex, all_vertices

V_ggg = Vertex(name="V_ggg", particles=[P.g, P.g, P.g], color=["f(1,2,3)"], lorentz=[L.VVV],
               couplings={(0, 0): C.GC_ggg})

# i g_s^2 [f^{12e} f^{34e} (g14 g23 - g13 g24) + f^{13e} f^{24e} (g14 g23 - g12 g34) + f^{14e} f^{23e} (g13 g24 - g12 g34)]
V_gggg = Vertex(name="V_gggg", particles=[P.g, P.g, P.g, P.g],
                color=["f(-1,1,2)*f(3,4,-1)", "f(-1,1,3)*f(2,4,-1)", "f(-1,1,4)*f(2,3,-1)"],
                lorentz=[L.VVVV_a, L.VVVV_b, L.VVVV_c],
                couplings={(0, 0): C.GC_gggg, (1, 1): C.GC_gggg, (2, 2): C.GC_gggg})

quark_pairs = [(P.d__tilde__, P.d), (P.u__tilde__, P.u), (P.s__tilde__, P.s), (P.c__tilde__, P.c),
               (P.b__tilde__, P.b), (P.t__tilde__, P.t)]

V_qqg = [Vertex(name="V_%s%sg" % (quark.name, quark.name), particles=[antiquark, quark, P.g], color=["T(3,2,1)"],
                lorentz=[L.FFV], couplings={(0, 0): C.GC_qqg})
         for antiquark, quark in quark_pairs]

V_qqzp = [Vertex(name="V_%s%szp" % (quark.name, quark.name), particles=[antiquark, quark, P.zp],
                 color=["Identity(1,2)"], lorentz=[L.FFV], couplings={(0, 0): C.GC_zpqq})
          for antiquark, quark in quark_pairs]
