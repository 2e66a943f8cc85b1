# The shared event chain, one chunk at a time (the real generator stack's rules are in external.smk):
#   render_slha, render_card:  a sample's settings -> results/cards/{sample}.slha, .cmnd (Pythia 8 command card)
#   generate_particles:        Pythia 8 -> results/particles/{sample}/chunk{chunk}.parquet (final-state particles)
#   write_hepmc:               the same events' full record -> results/hepmc/{sample}/chunk{chunk}.hepmc3 (target hepmc)
#   simulate_detector:         the embedded fast simulation -> results/delphes/{sample}/chunk{chunk}.root (Delphes schema)
#   convert_events:            Delphes-schema ROOT -> results/events/{sample}/chunk{chunk}.parquet (selected events)


rule render_slha:
    output:
        "results/cards/{sample}.slha",
    log:
        "logs/render_slha/{sample}.log",
    conda:
        "../envs/generation.yaml"
    params:
        settings=sample_settings,
    shell:
        "python -m workflow_scripts.generation.cards slha --settings {params.settings} --output {output} > {log} 2>&1"


rule render_card:
    input:
        slha=slha_input,
    output:
        "results/cards/{sample}.cmnd",
    log:
        "logs/render_card/{sample}.log",
    conda:
        "../envs/generation.yaml"
    params:
        settings=sample_settings,
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
        slha=lambda wildcards, input: f"--slha {input.slha}" if input.slha else "",
    shell:
        "python -m workflow_scripts.generation.cards card --sample {wildcards.sample} --settings {params.settings}"
        " --sqrt-s-gev {params.sqrt_s_gev} {params.slha} --output {output} > {log} 2>&1"


rule generate_particles:
    input:
        card=pythia_card,
        lhe=lhe_input,
    output:
        "results/particles/{sample}/chunk{chunk}.parquet",
    log:
        "logs/generate_particles/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/generate_particles/{sample}/chunk{chunk}.tsv"
    conda:
        "../envs/generation.yaml"
    threads: 1
    params:
        events=lambda wildcards: events_per_chunk(wildcards.sample),
        batch_size=config["generation"]["batch_size"],
        seed=config["seed"],
        lhe=lhe_first_event,
    shell:
        "python -m workflow_scripts.generation.pythia --card {input.card} --output {output} --sample {wildcards.sample}"
        " --chunk {wildcards.chunk} --events {params.events} --batch-size {params.batch_size}"
        " --seed {params.seed} {params.lhe} > {log} 2>&1"


# The same command: the output's extension chooses HepMC3.
use rule generate_particles as write_hepmc with:
    output:
        "results/hepmc/{sample}/chunk{chunk}.hepmc3",
    log:
        "logs/write_hepmc/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/write_hepmc/{sample}/chunk{chunk}.tsv"


rule simulate_detector:
    input:
        rules.generate_particles.output,
    output:
        "results/delphes/{sample}/chunk{chunk}.root",
    log:
        "logs/simulate_detector/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/simulate_detector/{sample}/chunk{chunk}.tsv"
    wildcard_constraints:
        sample=EMBEDDED_DETECTOR_SAMPLES,  # the others run Delphes itself (rules/external.smk)
    conda:
        "../envs/generation.yaml"
    threads: 1
    params:
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        jet_energy_scale=lambda wildcards: SAMPLES[wildcards.sample].get("jet_energy_scale", 1.0),
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.detector.simulation {input} {output} --jet-radius {params.jet_radius}"
        " --jet-energy-scale {params.jet_energy_scale} --seed {params.seed} > {log} 2>&1"


rule convert_events:
    input:
        "results/delphes/{sample}/chunk{chunk}.root",  # written by simulate_detector or simulate_delphes
    output:
        "results/events/{sample}/chunk{chunk}.parquet",
    log:
        "logs/convert_events/{sample}/chunk{chunk}.log",
    conda:
        "../envs/generation.yaml"
    params:
        selection=lambda wildcards: json_argument(config["selections"][SAMPLES[wildcards.sample]["selection"]]),
        selection_name=lambda wildcards: SAMPLES[wildcards.sample]["selection"],
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
    shell:
        "python -m workflow_scripts.detector.delphes_io {input} {output} --selection {params.selection}"
        " --selection-name {params.selection_name} --jet-radius {params.jet_radius}"
        " --sqrt-s-gev {params.sqrt_s_gev} > {log} 2>&1"
