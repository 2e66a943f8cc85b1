# Container backends (config key `backend` of a sample; containers/README.md):
#   madgraph-*:         MadGraph5_aMC per chunk -> results/lhe/{sample}/chunk{chunk}.lhe.gz -> per-chunk Pythia card
#   *-delphes:          DelphesPythia8 (Pythia 8 + Delphes' CMS card) -> results/delphes/{sample}/chunk{chunk}.root
#   madgraph-embedded:  the LHE file goes through generate_particles and simulate_detector (rules/generate.smk)
# The ROOT path is the same for every backend, so convert_events and everything after it are shared.
# Defined when the config names the generator image (config key containers), which the schema demands of every
# container backend: an embedded-only config has no container rule, and no rule without its environment.
if "containers" in config:

    rule madgraph_events:
        output:
            "results/lhe/{sample}/chunk{chunk}.lhe.gz",
        wildcard_constraints:
            sample=MADGRAPH_SAMPLES,
        params:
            settings=madgraph_settings,
            events=lambda wildcards: events_per_chunk(wildcards.sample),
            seed=config["seed"],
            sqrt_s_gev=config["generation"]["sqrt_s_gev"],
        threads: config["containers"].get("madgraph_threads", 4)
        container:
            config["containers"]["generators"]
        log:
            "logs/madgraph_events/{sample}/chunk{chunk}.log",
        benchmark:
            "benchmarks/madgraph_events/{sample}/chunk{chunk}.tsv"
        shell:
            "python3 -m workflow_scripts.madgraph run --sample {wildcards.sample} --settings {params.settings}"
            " --chunk {wildcards.chunk} --events {params.events} --seed {params.seed} --sqrt-s-gev {params.sqrt_s_gev}"
            " --cores {threads} --scratch {resources.tmpdir} --output {output} > {log} 2>&1"


    rule render_lhe_card:
        output:
            "results/cards/{sample}/chunk{chunk}.cmnd",
        wildcard_constraints:
            sample=MADGRAPH_SAMPLES,
        params:
            settings=lhe_card_settings,
            sqrt_s_gev=config["generation"]["sqrt_s_gev"],
        conda:
            "../envs/generation.yaml"
        log:
            "logs/render_lhe_card/{sample}/chunk{chunk}.log",
        shell:
            "python -m workflow_scripts.cards card --sample {wildcards.sample} --settings {params.settings}"
            " --sqrt-s-gev {params.sqrt_s_gev} --output {output} > {log} 2>&1"


    rule delphes_pythia8:
        input:
            card=pythia_card,
            lhe=lhe_input,
        output:
            "results/delphes/{sample}/chunk{chunk}.root",
        wildcard_constraints:
            sample=DELPHES_SAMPLES,
        params:
            events=lambda wildcards: events_per_chunk(wildcards.sample),
            seed=config["seed"],
            jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
            lhe=lambda wildcards, input: f"--lhe {input.lhe}" if input.lhe else "",
        threads: 1
        container:
            config["containers"]["generators"]
        log:
            "logs/delphes_pythia8/{sample}/chunk{chunk}.log",
        benchmark:
            "benchmarks/delphes_pythia8/{sample}/chunk{chunk}.tsv"
        shell:
            "python3 -m workflow_scripts.delphes_card run --card {input.card} {params.lhe} --sample {wildcards.sample}"
            " --chunk {wildcards.chunk} --events {params.events} --seed {params.seed} --jet-radius {params.jet_radius}"
            " --scratch {resources.tmpdir} --output {output} > {log} 2>&1"
