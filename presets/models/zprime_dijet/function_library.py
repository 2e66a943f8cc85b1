"""Functions that parameter and coupling expressions may use (UFO section 3.6); MadGraph knows these by name."""

import cmath

from .object_library import Function, all_functions

complexconjugate = Function(name="complexconjugate", arguments=("z",), expression="z.conjugate()")
re = Function(name="re", arguments=("z",), expression="z.real")
im = Function(name="im", arguments=("z",), expression="z.imag")
