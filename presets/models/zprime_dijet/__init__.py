"""zprime_dijet: QCD with six quarks plus a leptophobic vector Z' (PDG 32) coupled to every quark with the same
vector coupling gq.  A UFO model (arXiv:1108.2040) written for this project; see README.md."""

from . import particles
from . import couplings
from . import lorentz
from . import parameters
from . import vertices
from . import coupling_orders
from . import function_library
from . import object_library

gauge = [0]

all_particles = particles.all_particles
all_vertices = vertices.all_vertices
all_couplings = couplings.all_couplings
all_lorentz = lorentz.all_lorentz
all_parameters = parameters.all_parameters
all_orders = coupling_orders.all_orders
all_functions = function_library.all_functions

__author__ = "weak-supervision-pipeline"
__version__ = "1.0"
