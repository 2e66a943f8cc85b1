"""Lorentz structures (UFO section 3.3: indices are the positions of the particles in a vertex, from 1).

FFV:  gamma^mu between the fermions; particle 1 is the antifermion (index j), 2 the fermion (index i), 3 the vector.
VVV:  the Yang-Mills three-vector structure, g^{mu1 mu2}(p1 - p2)^mu3 + cyclic, momenta incoming.
VVVV_a, VVVV_b, VVVV_c: the metric pairings of the four-gluon vertex.
"""

from .object_library import Lorentz, all_lorentz

FFV = Lorentz(name="FFV", spins=[2, 2, 3], structure="Gamma(3,2,1)")

VVV = Lorentz(name="VVV", spins=[3, 3, 3],
              structure="Metric(1,2)*P(3,1) - Metric(1,2)*P(3,2) + Metric(2,3)*P(1,2) - Metric(2,3)*P(1,3)"
                        " + Metric(3,1)*P(2,3) - Metric(3,1)*P(2,1)")

# g^{14} g^{23} - g^{13} g^{24}, g^{14} g^{23} - g^{12} g^{34}, g^{13} g^{24} - g^{12} g^{34}
VVVV_a = Lorentz(name="VVVV_a", spins=[3, 3, 3, 3], structure="Metric(1,4)*Metric(2,3) - Metric(1,3)*Metric(2,4)")
VVVV_b = Lorentz(name="VVVV_b", spins=[3, 3, 3, 3], structure="Metric(1,4)*Metric(2,3) - Metric(1,2)*Metric(3,4)")
VVVV_c = Lorentz(name="VVVV_c", spins=[3, 3, 3, 3], structure="Metric(1,3)*Metric(2,4) - Metric(1,2)*Metric(3,4)")
