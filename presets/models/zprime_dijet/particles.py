"""Particles of the zprime_dijet model: the gluon, six quarks (five massless, the top with mass MT) and the
leptophobic vector Z' (PDG 32), colour singlet and electrically neutral."""

from . import parameters as Param
from .object_library import Particle, all_particles

g = Particle(pdg_code=21, name="g", antiname="g", spin=3, color=8, mass=Param.ZERO, width=Param.ZERO,
             texname="g", antitexname="g", charge=0)

zp = Particle(pdg_code=32, name="zp", antiname="zp", spin=3, color=1, mass=Param.MZp, width=Param.WZp,
              texname="Z'", antitexname="Z'", charge=0)


def quark(pdg_code, name, charge, mass=Param.ZERO, width=Param.ZERO):
    """A quark (colour triplet, spin 1/2) and its antiquark."""
    particle = Particle(pdg_code=pdg_code, name=name, antiname=name + "~", spin=2, color=3, mass=mass, width=width,
                        texname=name, antitexname="\\bar{%s}" % name, charge=charge)
    return particle, particle.anti()


d, d__tilde__ = quark(1, "d", -1.0 / 3.0)
u, u__tilde__ = quark(2, "u", 2.0 / 3.0)
s, s__tilde__ = quark(3, "s", -1.0 / 3.0)
c, c__tilde__ = quark(4, "c", 2.0 / 3.0)
b, b__tilde__ = quark(5, "b", -1.0 / 3.0)
t, t__tilde__ = quark(6, "t", 2.0 / 3.0, mass=Param.MT, width=Param.WT)

quarks = (d, u, s, c, b, t)
