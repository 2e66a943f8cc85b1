"""Object classes of the zprime_dijet UFO model (UFO conventions, arXiv:1108.2040, section 3).

Every object registers itself in the module-level list of its kind (all_particles, all_parameters, ...),
which __init__.py re-exports for the generators.
"""

import cmath

all_orders = []
all_functions = []
all_parameters = []
all_particles = []
all_lorentz = []
all_couplings = []
all_vertices = []


class UFOBaseClass(object):
    """Keyword-initialised object; `require_args` are the attributes every instance must have."""

    require_args = []

    def __init__(self, *args, **options):
        if len(args) != len(self.require_args):
            raise TypeError("%s takes %d positional arguments (%s), %d given"
                            % (self.__class__.__name__, len(self.require_args), ", ".join(self.require_args), len(args)))
        for name, value in zip(self.require_args, args):
            setattr(self, name, value)
        for name, value in options.items():
            setattr(self, name, value)

    def get(self, name):
        return getattr(self, name)

    def set(self, name, value):
        setattr(self, name, value)

    def get_all(self):
        return self.__dict__

    def __str__(self):
        return self.name

    def nice_string(self):
        return "%s:\n%s" % (self.name, "\n".join("    %s: %s" % item for item in sorted(self.__dict__.items())))

    __repr__ = __str__


class Particle(UFOBaseClass):
    """A particle; its antiparticle is made by anti().  Attributes beyond the UFO ones (charge, GhostNumber and
    any keyword given) are additive quantum numbers."""

    require_args = ["pdg_code", "name", "antiname", "spin", "color", "mass", "width", "texname", "antitexname",
                    "charge"]

    def __init__(self, pdg_code, name, antiname, spin, color, mass, width, texname, antitexname, charge,
                 line=None, propagating=True, goldstoneboson=False, **options):
        UFOBaseClass.__init__(self, pdg_code, name, antiname, spin, color, mass, width, texname, antitexname,
                              charge, **options)
        self.propagating = propagating
        self.goldstoneboson = goldstoneboson
        self.selfconjugate = (name == antiname)
        self.line = line if line is not None else self.default_line()
        all_particles.append(self)

    def default_line(self):
        """Line style of Feynman diagrams (UFO section 3.1)."""
        if self.spin == 1:
            return "dashed"
        if self.spin == 2:
            return "straight" if self.selfconjugate else "swavy"
        if self.spin == -1:
            return "dotted"
        if self.spin == 3:
            return "curly" if self.color == 8 else "wavy"
        return "double"

    def anti(self):
        """The antiparticle: conjugate colour representation, opposite additive quantum numbers."""
        if self.selfconjugate:
            raise ValueError("%s is its own antiparticle" % self.name)
        conjugate_colour = {1: 1, 3: -3, -3: 3, 6: -6, -6: 6, 8: 8}[self.color]
        quantum_numbers = {}
        for key, value in self.__dict__.items():
            if key not in Particle.require_args and key not in ("line", "propagating", "goldstoneboson",
                                                                 "selfconjugate", "charge"):
                quantum_numbers[key] = -value
        return Particle(-self.pdg_code, self.antiname, self.name, self.spin, conjugate_colour, self.mass,
                        self.width, self.antitexname, self.texname, -self.charge, line=self.line,
                        propagating=self.propagating, goldstoneboson=self.goldstoneboson, **quantum_numbers)


class Parameter(UFOBaseClass):
    """External parameters have an LHA block and code; internal ones a Python expression for `value`."""

    require_args = ["name", "nature", "type", "value", "texname"]

    def __init__(self, name, nature, type, value, texname, lhablock=None, lhacode=None):
        UFOBaseClass.__init__(self, name, nature, type, value, texname)
        if nature not in ("external", "internal"):
            raise ValueError("parameter %s: nature must be external or internal" % name)
        if type not in ("real", "complex"):
            raise ValueError("parameter %s: type must be real or complex" % name)
        if nature == "external":
            if lhablock is None or lhacode is None:
                raise ValueError("external parameter %s needs lhablock and lhacode" % name)
            self.lhablock = lhablock
            self.lhacode = lhacode
        all_parameters.append(self)


class Vertex(UFOBaseClass):
    """couplings maps (colour index, Lorentz index) to a Coupling."""

    require_args = ["name", "particles", "color", "lorentz", "couplings"]

    def __init__(self, name, particles, color, lorentz, couplings, **options):
        UFOBaseClass.__init__(self, name, particles, color, lorentz, couplings, **options)
        all_vertices.append(self)


class Coupling(UFOBaseClass):
    """`value` is a Python expression of parameters; `order` maps coupling orders to powers."""

    require_args = ["name", "value", "order"]

    def __init__(self, name, value, order, **options):
        UFOBaseClass.__init__(self, name, value, order, **options)
        all_couplings.append(self)


class Lorentz(UFOBaseClass):
    require_args = ["name", "spins", "structure"]

    def __init__(self, name, spins, structure="external", **options):
        UFOBaseClass.__init__(self, name, spins, structure, **options)
        all_lorentz.append(self)


class Function(object):
    """A function usable in parameter and coupling expressions."""

    def __init__(self, name, arguments, expression):
        self.name = name
        self.arguments = arguments
        self.expr = expression  # the attribute name generators read (UFO object_library convention)
        all_functions.append(self)

    def __call__(self, *values):
        scope = dict(zip(self.arguments, values))
        scope["cmath"] = cmath
        return eval(self.expr, scope)

    def __str__(self):
        return self.name


class CouplingOrder(object):
    def __init__(self, name, expansion_order, hierarchy, perturbative_expansion=0):
        self.name = name
        self.expansion_order = expansion_order
        self.hierarchy = hierarchy
        self.perturbative_expansion = perturbative_expansion
        all_orders.append(self)

    def __str__(self):
        return self.name
