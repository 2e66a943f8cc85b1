"""Write this model's default param_card.dat (LHA format) from its external parameters.

Run as a script in the model's directory (MadGraph does: `python write_param_card.py` in bin/internal/ufomodel,
then reads param_card.dat), or call write_param_card(path) after importing the model.
"""

import importlib
import os
import sys


def model_package():
    here = os.path.dirname(os.path.abspath(__file__))
    if __package__:
        return sys.modules[__package__]
    sys.path.insert(0, os.path.dirname(here))
    return importlib.import_module(os.path.basename(here))


def card_text(parameters):
    """The LHA text: one BLOCK per lhablock (codes in order), DECAY lines for the widths."""
    blocks = {}
    for parameter in parameters:
        if parameter.nature == "external":
            blocks.setdefault(parameter.lhablock.upper(), []).append(parameter)
    lines = ["######################################################################",
             "## PARAM_CARD of the zprime_dijet UFO model (write_param_card.py)",
             "######################################################################"]
    for block in sorted(blocks, key=lambda name: (name == "DECAY", name)):
        entries = sorted(blocks[block], key=lambda parameter: list(parameter.lhacode))
        if block == "DECAY":
            lines.append("###################################")
            lines.append("## INFORMATION FOR DECAY")
            lines.append("###################################")
            for parameter in entries:
                lines.append("DECAY %d %e # %s" % (parameter.lhacode[0], float(parameter.value), parameter.name))
            continue
        lines.append("###################################")
        lines.append("## INFORMATION FOR %s" % block)
        lines.append("###################################")
        lines.append("BLOCK %s " % block)
        for parameter in entries:
            codes = " ".join("%d" % code for code in parameter.lhacode)
            lines.append("    %s %e # %s" % (codes, float(parameter.value), parameter.name))
    return "\n".join(lines) + "\n"


def write_param_card(path="param_card.dat"):
    package = model_package()
    with open(path, "w") as stream:
        stream.write(card_text(package.all_parameters))


if __name__ == "__main__":
    write_param_card(sys.argv[1] if len(sys.argv) > 1 else "param_card.dat")
