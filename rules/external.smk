# The real generator stack (a sample's `generator: madgraph` and `detector: delphes`):
#   install_madgraph, install_delphes:  build each tool once into a cache (workflow_scripts/external/install_tools.py, the
#                                       recipe containers/Dockerfile runs too) -> tools/{tool}.json
#   madgraph_gridpack:  the sample's process written, compiled and integrated once -> results/gridpacks/{sample}.tar.gz
#                       and its record (cards, MadGraph version, the survey's cross section) {sample}.json
#   madgraph_events:    one chunk's events from the gridpack, with the chunk's iseed -> results/lhe/{sample}/chunk{chunk}.lhe.gz
#   render_lhe_card:    the chunk's Pythia card, to shower that file
#   simulate_delphes:   pythia8mc -> HepMC3 pipe -> DelphesHepMC3 (CMS card) -> results/delphes/{sample}/chunk{chunk}.root
# The ROOT path is the same for both detectors, so convert_events and everything after it are shared.
# With --sdm apptainer and config key containers.generators the MadGraph and Delphes jobs run in that image.


rule install_madgraph:
    output:
        "tools/madgraph.json",
    log:
        "logs/install_madgraph.log",
    conda:
        "../envs/tools.yaml"
    params:
        source_dir=f"--source-dir {shlex.quote(TOOLS['source_dir'])}" if "source_dir" in TOOLS else "",
    shell:
        "python -m workflow_scripts.external.install_tools madgraph --record {output} {params.source_dir} > {log} 2>&1"


rule install_delphes:
    output:
        "tools/delphes.json",
    log:
        "logs/install_delphes.log",
    conda:
        "../envs/tools.yaml"
    threads: TOOLS.get("build_jobs", 4)
    params:
        source_dir=f"--source-dir {shlex.quote(TOOLS['source_dir'])}" if "source_dir" in TOOLS else "",
    shell:
        "python -m workflow_scripts.external.install_tools delphes --record {output} {params.source_dir} --jobs {threads}"
        " > {log} 2>&1"


rule madgraph_gridpack:
    input:
        tool=tool_record("madgraph"),
    output:
        gridpack="results/gridpacks/{sample}.tar.gz",
        record="results/gridpacks/{sample}.json",
    log:
        "logs/madgraph_gridpack/{sample}.log",
    benchmark:
        "benchmarks/madgraph_gridpack/{sample}.tsv"
    wildcard_constraints:
        sample=MADGRAPH_SAMPLES,
    conda:
        "../envs/tools.yaml"
    container:
        GENERATOR_IMAGE
    threads: TOOLS.get("madgraph_threads", 1)
    params:
        settings=sample_settings,
        seed=config["seed"],
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
        model_sha256=user_model_digest,  # a user's UFO model: a changed model rebuilds the gridpack
        tool=lambda wildcards, input: tool_argument(input),
    shell:
        "python -m workflow_scripts.external.madgraph gridpack --sample {wildcards.sample} --settings {params.settings}"
        " --seed {params.seed} --sqrt-s-gev {params.sqrt_s_gev} --cores {threads} --scratch {resources.tmpdir} {params.tool}"
        " --gridpack {output.gridpack} --record {output.record} > {log} 2>&1"


rule madgraph_events:
    input:
        unpack(gridpack_files),
        tool=tool_record("madgraph"),
    output:
        "results/lhe/{sample}/chunk{chunk}.lhe.gz",
    log:
        "logs/madgraph_events/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/madgraph_events/{sample}/chunk{chunk}.tsv"
    wildcard_constraints:
        sample=MADGRAPH_SAMPLES,
    conda:
        "../envs/tools.yaml"
    container:
        GENERATOR_IMAGE
    threads: 1
    params:
        events=lambda wildcards: events_per_chunk(wildcards.sample),
        seed=config["seed"],
        tool=lambda wildcards, input: tool_argument(input),
    shell:
        "python -m workflow_scripts.external.madgraph events --sample {wildcards.sample} --chunk {wildcards.chunk}"
        " --events {params.events} --seed {params.seed} --gridpack {input.gridpack} --record {input.record}"
        " --scratch {resources.tmpdir} {params.tool} --output {output} > {log} 2>&1"


rule render_lhe_card:
    input:
        lhe=lhe_input,
    output:
        "results/cards/{sample}/chunk{chunk}.cmnd",
    log:
        "logs/render_lhe_card/{sample}/chunk{chunk}.log",
    wildcard_constraints:
        sample=MADGRAPH_SAMPLES,
    conda:
        "../envs/generation.yaml"
    params:
        settings=lhe_card_settings,
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
    shell:
        "python -m workflow_scripts.generation.cards card --sample {wildcards.sample} --settings {params.settings}"
        " --sqrt-s-gev {params.sqrt_s_gev} --output {output} > {log} 2>&1"


rule simulate_delphes:
    input:
        card=pythia_card,
        lhe=lhe_input,
        tool=tool_record("delphes"),
    output:
        "results/delphes/{sample}/chunk{chunk}.root",
    log:
        "logs/simulate_delphes/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/simulate_delphes/{sample}/chunk{chunk}.tsv"
    wildcard_constraints:
        sample=DELPHES_SAMPLES,
    conda:
        "../envs/tools.yaml"
    container:
        GENERATOR_IMAGE
    threads: 1
    params:
        events=lambda wildcards: events_per_chunk(wildcards.sample),
        batch_size=config["generation"]["batch_size"],
        seed=config["seed"],
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        lhe=lhe_first_event,
        tool=lambda wildcards, input: tool_argument(input),
        tree=TOOLS.get("delphes_tree", "analysis"),
    shell:
        "python -m workflow_scripts.detector.delphes --card {input.card} --output {output} --sample {wildcards.sample}"
        " --chunk {wildcards.chunk} --events {params.events} --batch-size {params.batch_size} --seed {params.seed}"
        " --jet-radius {params.jet_radius} --tree {params.tree} {params.lhe} {params.tool} --scratch {resources.tmpdir}"
        " > {log} 2>&1"


rule generator_image:
    """The generator image (containers/Dockerfile), built once per build context and saved as an image archive for
    `apptainer build generators.sif docker-archive:results/images/generators.tar` (docs/containers.md)."""
    output:
        archive="results/images/generators.tar",
        record="results/images/generators.json",
    log:
        "logs/generator_image.log",
    conda:
        "../envs/tools.yaml"
    params:
        engine=IMAGE_BUILD.get("engine", "podman"),
        options=generator_image_options,
    shell:
        "python -m workflow_scripts.external.generator_image build --engine {params.engine} {params.options}"
        " --archive {output.archive} --record {output.record} > {log} 2>&1"
