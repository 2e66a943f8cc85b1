"""Pythia 8 command cards for every physics sample of the two papers.

A card is the complete, human-readable list of settings a sample is generated
with (``Key = value`` lines, Pythia's ``.cmnd`` format), so the same file runs
in the embedded generator and in Delphes' own ``DelphesPythia8``.  The seed is
not part of the card: it is set per chunk by the generator
(``Random:setSeed = on``, ``Random:seed = <chunk seed>``).

Hidden-Valley dark showers follow Beauchesne, Chen, Chiang (Table 1a and
Eq. 2.1).  The paper used Pythia 8.307; Pythia 8.313 renamed the HV
fragmentation parameters, and ``hv_fragmentation_settings`` is the one place
that maps the paper's values onto the current names.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from pathlib import Path

from workflow_scripts.core.files import atomic_output

ZPRIME_ID = 4900023
DARK_QUARK_IDS = (4900101, 4900102, 4900103)
N_DARK_FLAVOURS = len(DARK_QUARK_IDS)
# Pythia 8.307 default of HiddenValley:sigmamqv (sigma = sigmamqv * m_qv), which
# the paper left unchanged; since 8.313 sigma is set directly as sigmaLund.
PYTHIA_8307_SIGMAMQV = 0.5
# Table 1a of the CWoLa paper, in Pythia 8.307 names.
PAPER_HV_FRAGMENTATION = {"aLund": 0.1, "bmqv2": 1.9, "rFactqv": 1.0}
HV_SCENARIOS = {"ID": 1.0, "DD": 1.8}  # m_pi / Lambda_D: indirect and direct decay


def dark_meson_ids(spin: int) -> list[int]:
    """Codes 4900ij1 (pseudoscalar, spin 0) or 4900ij3 (vector, spin 1), i >= j, for separateFlav = on."""
    last = {0: 1, 1: 3}[spin]
    return [4900000 + 100 * i + 10 * j + last for i in range(1, N_DARK_FLAVOURS + 1) for j in range(1, i + 1)]


@dataclasses.dataclass(frozen=True)
class DarkShowerMasses:
    """Masses of Eq. (2.1) for a confinement scale Lambda_D and a ratio m_pi / Lambda_D."""

    lambda_d_gev: float
    m_pi_over_lambda: float

    @property
    def m_pi_gev(self) -> float:
        return self.m_pi_over_lambda * self.lambda_d_gev

    @property
    def m_rho_gev(self) -> float:
        return self.lambda_d_gev * math.sqrt(5.76 + 1.5 * self.m_pi_over_lambda**2)

    @property
    def m_q_current_gev(self) -> float:
        """From m_pi / Lambda = 5.5 sqrt(m_q / Lambda)."""
        return self.lambda_d_gev * (self.m_pi_over_lambda / 5.5) ** 2

    @property
    def m_q_constituent_gev(self) -> float:
        """The dark-quark mass Pythia's HV module takes."""
        return self.m_q_current_gev + self.lambda_d_gev


def hv_fragmentation_settings(m_qv_gev: float, a_lund: float, bmqv2: float, rfactqv: float,
                              sigmamqv: float = PYTHIA_8307_SIGMAMQV) -> dict:
    """Pythia >= 8.313 settings equivalent to Pythia 8.307's HV fragmentation parameters.

    8.307 scaled its parameters with the dark-quark (constituent) mass m_qv:
    b = bmqv2 / m_qv^2 and sigma = sigmamqv * m_qv; rFactqv was one Bowler
    factor for all HV flavours.  8.313 takes b (GeV^-2) and sigma (GeV)
    directly under setabsigma = 2, and one rFact per HV flavour.
    """
    return {
        "HiddenValley:setabsigma": 2,
        "HiddenValley:aLund": a_lund,
        "HiddenValley:bLund": bmqv2 / m_qv_gev**2,
        "HiddenValley:sigmaLund": sigmamqv * m_qv_gev,
        "HiddenValley:rFact": [rfactqv] * 8,
    }


def beam_settings(sqrt_s_gev: float) -> dict:
    return {"Beams:idA": 2212, "Beams:idB": 2212, "Beams:eCM": sqrt_s_gev}


def quiet_settings() -> dict:
    """No event listings or progress lines in the logs; errors still reach them."""
    return {"Next:numberCount": 0, "Next:numberShowEvent": 0, "Next:numberShowInfo": 0, "Next:numberShowProcess": 0,
            "Init:showChangedParticleData": "off"}


def qcd_dijet_settings(sqrt_s_gev: float, pt_hat_min_gev: float, m_hat_min_gev: float) -> dict:
    """QCD 2 -> 2 with the preliminary cuts of the CWoLa paper's Table 1b as phase-space cuts."""
    return beam_settings(sqrt_s_gev) | {
        "HardQCD:all": "on",
        "PhaseSpace:pTHatMin": pt_hat_min_gev,
        "PhaseSpace:mHatMin": m_hat_min_gev,
    }


def hidden_valley_settings(sqrt_s_gev: float, scenario: str, lambda_d_gev: float, zprime_mass_gev: float = 5500.0,
                           zprime_width_gev: float = 10.0, fragmentation: dict | None = None) -> dict:
    """f fbar -> Z' -> q_D q_D~ with a dark shower (CWoLa paper, section 2 and Table 1a).

    ID (indirect decay): m_pi = Lambda, rho_D -> pi_D pi_D; DD (direct decay):
    m_pi = 1.8 Lambda, rho_D and pi_D -> d dbar.  Dark pions always decay to d dbar.
    """
    if scenario not in HV_SCENARIOS:
        raise ValueError(f"unknown Hidden-Valley scenario {scenario!r}; expected one of {sorted(HV_SCENARIOS)}")
    masses = DarkShowerMasses(lambda_d_gev, HV_SCENARIOS[scenario])
    if scenario == "ID" and masses.m_rho_gev <= 2 * masses.m_pi_gev:
        raise ValueError(f"rho_D -> pi_D pi_D is closed for Lambda_D = {lambda_d_gev} GeV")
    fragmentation = PAPER_HV_FRAGMENTATION | (fragmentation or {})
    settings = beam_settings(sqrt_s_gev) | {
        "HiddenValley:ffbar2Zv": "on",
        f"{ZPRIME_ID}:m0": zprime_mass_gev,
        f"{ZPRIME_ID}:mWidth": zprime_width_gev,
        f"{ZPRIME_ID}:mMin": zprime_mass_gev - 50 * zprime_width_gev,
        f"{ZPRIME_ID}:mMax": zprime_mass_gev + 50 * zprime_width_gev,
        f"{ZPRIME_ID}:onMode": "off",
        f"{ZPRIME_ID}:onIfAny": " ".join(str(code) for code in DARK_QUARK_IDS),
        "HiddenValley:Ngauge": 3,
        "HiddenValley:nFlav": N_DARK_FLAVOURS,
        "HiddenValley:alphaOrder": 1,
        "HiddenValley:setLambda": "on",
        "HiddenValley:Lambda": lambda_d_gev,
        "HiddenValley:pTminFSR": 1.1 * lambda_d_gev,
        "HiddenValley:separateFlav": "on",
        "HiddenValley:probVector": 0.75,
        "HiddenValley:fragment": "on",
        "HiddenValley:FSR": "on",
    }
    settings |= hv_fragmentation_settings(masses.m_q_constituent_gev, fragmentation["aLund"], fragmentation["bmqv2"],
                                          fragmentation["rFactqv"])
    for code in DARK_QUARK_IDS:
        settings[f"{code}:m0"] = masses.m_q_constituent_gev
    # meMode 91: the d dbar pair is showered and hadronised as a colour singlet.
    to_down_quarks = "1 1.0 91 1 -1"
    diagonal_pion = dark_meson_ids(0)[0]
    for code in dark_meson_ids(0):
        settings[f"{code}:m0"] = masses.m_pi_gev
        settings[f"{code}:oneChannel"] = to_down_quarks
    for pion, code in zip(dark_meson_ids(0), dark_meson_ids(1)):
        settings[f"{code}:m0"] = masses.m_rho_gev
        # ID: the vector decays to the pion of its own flavour content plus a flavour-neutral pion.
        settings[f"{code}:oneChannel"] = f"1 1.0 0 {pion} {diagonal_pion}" if scenario == "ID" else to_down_quarks
    return settings


def z_nunu_jet_settings(sqrt_s_gev: float, pt_hat_min_gev: float, pt_hat_max_gev: float | None = None) -> dict:
    """Z(-> nu nu) + 1 parton (Cohen et al., section 5), optionally one pT-hat slice of it."""
    settings = beam_settings(sqrt_s_gev) | {
        "WeakBosonAndParton:qqbar2gmZg": "on",
        "WeakBosonAndParton:qg2gmZq": "on",
        "WeakZ0:gmZmode": 2,  # the Z alone, no photon
        "23:onMode": "off",
        "23:onIfAny": "12 14 16",
        "PhaseSpace:pTHatMin": pt_hat_min_gev,
    }
    if pt_hat_max_gev is not None:
        settings["PhaseSpace:pTHatMax"] = pt_hat_max_gev
    return settings


def gluino_pair_settings(sqrt_s_gev: float, slha_file: str) -> dict:
    """Gluino pairs from gluon fusion and q qbar annihilation; masses and decays from the SLHA spectrum."""
    return beam_settings(sqrt_s_gev) | {
        "SUSY:gg2gluinogluino": "on",
        "SUSY:qqbar2gluinogluino": "on",
        "SLHA:file": slha_file,
    }


def gluino_spectrum_slha(gluino_mass_gev: float, neutralino_mass_gev: float, squark_mass_gev: float) -> str:
    """A minimal SLHA spectrum: a gluino decaying through off-shell first-generation squarks,
    g~ -> chi_1^0 q qbar (q = u, d, equal rates), everything else decoupled at squark_mass_gev.

    Pythia needs a spectrum to switch SUSY processes on; it rejects an exactly massless
    neutralino, so "massless" means a small mass here (1 GeV in the config).
    """
    heavy = [1000001, 2000001, 1000002, 2000002, 1000003, 2000003, 1000004, 2000004, 1000005, 2000005, 1000006, 2000006,
             1000011, 2000011, 1000012, 1000013, 2000013, 1000014, 1000015, 2000015, 1000016,
             1000023, 1000025, 1000035, 1000024, 1000037, 35, 36, 37]
    lines = ["BLOCK MODSEL", "    1   0   # general MSSM", "BLOCK MINPAR", "    3   1.0e+01   # tan(beta)", "BLOCK MASS"]
    lines += [f"   {code}   {squark_mass_gev:.6e}" for code in heavy]
    lines += [f"   1000021   {gluino_mass_gev:.6e}", f"   1000022   {neutralino_mass_gev:.6e}", "        25   1.25e+02"]
    # Bino-like lightest neutralino, no mixing.
    lines += ["BLOCK NMIX"] + [f"  {i}  {j}   {1.0 if i == j else 0.0}" for i in range(1, 5) for j in range(1, 5)]
    lines += ["BLOCK UMIX", "  1  1   1.0", "  1  2   0.0", "  2  1   0.0", "  2  2   1.0"]
    lines += ["BLOCK VMIX", "  1  1   1.0", "  1  2   0.0", "  2  1   0.0", "  2  2   1.0"]
    lines += ["BLOCK ALPHA", "  -0.1", f"BLOCK HMIX Q= {squark_mass_gev:.6e}", f"  1   {squark_mass_gev:.6e}", "  2   1.0e+01"]
    lines += ["DECAY   1000021   1.0e-02", "   0.5   3   1000022   1  -1", "   0.5   3   1000022   2  -2", "DECAY   1000022   0.0"]
    return "\n".join(lines) + "\n"


def format_value(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(item) for item in value)
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def render_card(settings: dict, title: str) -> str:
    """The card text: a comment header, then one `Key = value` line per setting, in insertion order."""
    lines = [f"! {title}", "! Rendered by workflow_scripts.generation.cards; the chunk seed is set by the generator.", ""]
    lines += [f"{key} = {format_value(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def read_card(path) -> list[str]:
    """Setting lines of a card, without comments and blank lines."""
    lines = []
    for raw in Path(path).read_text().splitlines():
        line = raw.split("!", 1)[0].split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def sample_settings(sample: dict, sqrt_s_gev: float) -> dict:
    """Settings of one sample from its config entry (its `process` picks the physics)."""
    process = sample["process"]
    if process == "qcd_dijet":
        settings = qcd_dijet_settings(sqrt_s_gev, sample["pt_hat_min_gev"], sample["m_hat_min_gev"])
    elif process == "hidden_valley":
        settings = hidden_valley_settings(sqrt_s_gev, sample["scenario"], sample["lambda_d_gev"],
                                          sample.get("zprime_mass_gev", 5500.0), sample.get("zprime_width_gev", 10.0))
    elif process == "z_nunu_jet":
        settings = z_nunu_jet_settings(sqrt_s_gev, sample["pt_hat_min_gev"], sample.get("pt_hat_max_gev"))
    elif process == "gluino_pair":
        settings = gluino_pair_settings(sqrt_s_gev, sample["slha_file"])
    elif process == "lhe":
        # Showering events from a Les Houches file: beams and the hard process come from the file. The path stays as
        # given (relative to the working directory, where every job runs), so no card holds the checkout's location.
        settings = {"Beams:frameType": 4, "Beams:LHEF": str(sample["lhe_file"])}
    else:
        raise ValueError(f"unknown process {process!r} in sample config {sample}")
    return settings | quiet_settings() | sample.get("extra_settings", {})



# Sample keys that steer other stages; leaving them out of the card's inputs keeps a change of,
# say, the jet radius from regenerating events.
NOT_GENERATOR_KEYS = ("chunks", "events_per_chunk", "jet_radius", "selection", "detector", "jet_energy_scale")


def generator_entry(sample: dict) -> dict:
    return {key: value for key, value in sample.items() if key not in NOT_GENERATOR_KEYS}


def hidden_valley_sample_name(scenario: str, lambda_d_gev: float) -> str:
    return f"hv_{scenario.lower()}_lambda{lambda_d_gev:g}"


def sample_label(sample: str) -> str:
    """A sample name for plot legends: 'hv_id_lambda10' -> 'ID, $\\Lambda_D$ = 10 GeV'; other names unchanged."""
    match = re.fullmatch(r"hv_(id|dd)_lambda(\d+(?:\.\d+)?)", sample)
    return rf"{match[1].upper()}, $\Lambda_D$ = {match[2]} GeV" if match else sample


def configured_samples(generation: dict) -> dict[str, dict]:
    """Every sample the config names: the explicit `samples` plus the Hidden-Valley benchmark grid."""
    samples = dict(generation.get("samples", {}))
    grid = generation.get("hidden_valley_benchmarks")
    if grid:
        for scenario in grid["scenarios"]:
            for lambda_d_gev in grid["lambda_d_gev"]:
                name = hidden_valley_sample_name(scenario, lambda_d_gev)
                entry = {"process": "hidden_valley", "scenario": scenario, "lambda_d_gev": lambda_d_gev,
                         "chunks": grid["chunks"], "jet_radius": grid["jet_radius"], "selection": grid["selection"]}
                entry |= {key: grid[key] for key in ("events_per_chunk", "detector") if key in grid}
                samples.setdefault(name, entry)
    return samples


def main(argv=None) -> None:
    import json

    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.generation.cards", description="render a sample's Pythia card or SLHA spectrum")
    sub = parser.add_subparsers(dest="command", required=True)
    card = sub.add_parser("card", help="the Pythia card of a sample")
    card.add_argument("--sample", required=True, help="sample name (used in the card's title)")
    card.add_argument("--settings", required=True, help="the sample's config entry as JSON")
    card.add_argument("--sqrt-s-gev", type=float, required=True)
    card.add_argument("--slha", help="SLHA spectrum the card refers to (gluino samples)")
    card.add_argument("--output", type=Path, required=True)
    slha = sub.add_parser("slha", help="the SLHA spectrum of a gluino sample")
    slha.add_argument("--settings", required=True, help="the sample's config entry as JSON")
    slha.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sample = json.loads(args.settings)
    if args.command == "slha":
        text = gluino_spectrum_slha(sample["gluino_mass_gev"], sample["neutralino_mass_gev"], sample.get("squark_mass_gev", 5000.0))
    else:
        if args.slha:
            sample = sample | {"slha_file": args.slha}
        text = render_card(sample_settings(sample, args.sqrt_s_gev), f"sample {args.sample}")
    with atomic_output(args.output) as temporary:
        temporary.write_text(text)


if __name__ == "__main__":
    main()
