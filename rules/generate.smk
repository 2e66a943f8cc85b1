rule render_slha:
    output:
        "results/cards/{sample}.slha",
    params:
        settings=lambda wildcards: shlex.quote(json.dumps(generator_entry(SAMPLES[wildcards.sample]))),
    conda:
        "../envs/generation.yaml"
    log:
        "logs/render_slha/{sample}.log",
    shell:
        "python -m workflow_scripts.cards slha --settings {params.settings} --output {output} > {log} 2>&1"


rule render_card:
    input:
        slha=slha_input,
    output:
        "results/cards/{sample}.cmnd",
    params:
        settings=lambda wildcards: shlex.quote(json.dumps(generator_entry(SAMPLES[wildcards.sample]))),
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
        slha=lambda wildcards, input: f"--slha {input.slha}" if input.slha else "",
    conda:
        "../envs/generation.yaml"
    log:
        "logs/render_card/{sample}.log",
    shell:
        "python -m workflow_scripts.cards card --sample {wildcards.sample} --settings {params.settings}"
        " --sqrt-s-gev {params.sqrt_s_gev} {params.slha} --output {output} > {log} 2>&1"


rule generate_particles:
    input:
        card=pythia_card,
        lhe=lhe_input,
    output:
        "results/particles/{sample}/chunk{chunk}.parquet",
    params:
        events=lambda wildcards: events_per_chunk(wildcards.sample),
        batch_size=config["generation"]["batch_size"],
        seed=config["seed"],
        lhe=lhe_first_event,
    threads: 1
    conda:
        "../envs/generation.yaml"
    log:
        "logs/generate_particles/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/generate_particles/{sample}/chunk{chunk}.tsv"
    shell:
        "python -m workflow_scripts.generation --card {input.card} --output {output} --sample {wildcards.sample}"
        " --chunk {wildcards.chunk} --events {params.events} --batch-size {params.batch_size}"
        " --seed {params.seed} {params.lhe} > {log} 2>&1"


rule write_hepmc:
    input:
        card=pythia_card,
        lhe=lhe_input,
    output:
        "results/hepmc/{sample}/chunk{chunk}.hepmc3",
    params:
        events=lambda wildcards: events_per_chunk(wildcards.sample),
        batch_size=config["generation"]["batch_size"],
        seed=config["seed"],
        lhe=lhe_first_event,
    threads: 1
    conda:
        "../envs/generation.yaml"
    log:
        "logs/write_hepmc/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/write_hepmc/{sample}/chunk{chunk}.tsv"
    shell:
        "python -m workflow_scripts.generation --card {input.card} --hepmc {output} --sample {wildcards.sample}"
        " --chunk {wildcards.chunk} --events {params.events} --batch-size {params.batch_size}"
        " --seed {params.seed} {params.lhe} > {log} 2>&1"


rule simulate_detector:
    input:
        rules.generate_particles.output,
    output:
        "results/delphes/{sample}/chunk{chunk}.root",
    wildcard_constraints:
        sample=EMBEDDED_DETECTOR_SAMPLES,  # the others run Delphes itself (rules/tools.smk)
    params:
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        jet_energy_scale=lambda wildcards: SAMPLES[wildcards.sample].get("jet_energy_scale", 1.0),
        seed=config["seed"],
    threads: 1
    conda:
        "../envs/generation.yaml"
    log:
        "logs/simulate_detector/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/simulate_detector/{sample}/chunk{chunk}.tsv"
    shell:
        "python -m workflow_scripts.detector {input} {output} --jet-radius {params.jet_radius}"
        " --jet-energy-scale {params.jet_energy_scale} --seed {params.seed} > {log} 2>&1"


rule convert_events:
    input:
        detector_root,
    output:
        "results/events/{sample}/chunk{chunk}.parquet",
    params:
        selection=lambda wildcards: shlex.quote(json.dumps(config["selections"][SAMPLES[wildcards.sample]["selection"]])),
        selection_name=lambda wildcards: SAMPLES[wildcards.sample]["selection"],
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
    conda:
        "../envs/generation.yaml"
    log:
        "logs/convert_events/{sample}/chunk{chunk}.log",
    shell:
        "python -m workflow_scripts.delphes_io {input} {output} --selection {params.selection}"
        " --selection-name {params.selection_name} --jet-radius {params.jet_radius}"
        " --sqrt-s-gev {params.sqrt_s_gev} > {log} 2>&1"
