"""Parameters of the zprime_dijet model.

External (param_card): aS (SMINPUTS 3), gq (ZPINPUTS 1), the top mass MT (MASS 6), MZp (MASS 32), and the
widths WT (DECAY 6) and WZp (DECAY 32).  Internal: ZERO and the strong coupling G = sqrt(4 pi aS), whose name
MadGraph recognises for the running of alpha_s.
"""

from .object_library import Parameter, all_parameters

ZERO = Parameter(name="ZERO", nature="internal", type="real", value="0.0", texname="0")

aS = Parameter(name="aS", nature="external", type="real", value=0.118, texname="\\alpha_s",
               lhablock="SMINPUTS", lhacode=[3])

gq = Parameter(name="gq", nature="external", type="real", value=0.15, texname="g_q",
               lhablock="ZPINPUTS", lhacode=[1])

MT = Parameter(name="MT", nature="external", type="real", value=172.5, texname="m_t",
               lhablock="MASS", lhacode=[6])

MZp = Parameter(name="MZp", nature="external", type="real", value=5000.0, texname="M_{Z'}",
                lhablock="MASS", lhacode=[32])

WT = Parameter(name="WT", nature="external", type="real", value=1.5, texname="\\Gamma_t",
               lhablock="DECAY", lhacode=[6])

WZp = Parameter(name="WZp", nature="external", type="real", value=53.7, texname="\\Gamma_{Z'}",
                lhablock="DECAY", lhacode=[32])

G = Parameter(name="G", nature="internal", type="real", value="2*cmath.sqrt(aS)*cmath.sqrt(cmath.pi)",
              texname="g_s")
