# Detector closure (target `closure`): the configured samples' first chunks through both the embedded simulation and
# Delphes 3.5.1 on the same events, compared event by event (workflow_scripts/closure.py):
#   closure_embedded / closure_delphes:  a chunk through the detector the sample is not configured with
#                                        (its own detector's file, results/delphes/..., is reused)
#   closure_sample:                      one sample's tidy table, mean images, pull and response
#   closure_summary:                     every sample in one CSV and one figure


use rule simulate_detector as closure_embedded with:
    output:
        "results/closure/embedded/{sample}/chunk{chunk}.root",
    wildcard_constraints:
        sample=SAMPLE_PATTERN,
    log:
        "logs/closure_embedded/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/closure_embedded/{sample}/chunk{chunk}.tsv"


use rule simulate_delphes as closure_delphes with:
    output:
        "results/closure/delphes/{sample}/chunk{chunk}.root",
    wildcard_constraints:
        sample=SAMPLE_PATTERN,
    log:
        "logs/closure_delphes/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/closure_delphes/{sample}/chunk{chunk}.tsv"


rule closure_sample:
    input:
        embedded=lambda wildcards: closure_detector_files(wildcards.sample, "embedded"),
        delphes=lambda wildcards: closure_detector_files(wildcards.sample, "delphes"),
    output:
        csv="results/closure/{sample}/closure.csv",
        arrays="results/closure/{sample}/closure.npz",
    params:
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        selection=lambda wildcards: shlex.quote(json.dumps(config["selections"][SAMPLES[wildcards.sample]["selection"]])),
        npix=CLOSURE.get("npix", 25),
        cnn_epochs=CLOSURE.get("cnn_epochs", 50),
        tolerances=shlex.quote(json.dumps(CLOSURE.get("tolerances", {}))),
        seed=lambda wildcards: derive_seed(config["seed"], "closure", wildcards.sample),
    threads: 1
    conda:
        "../envs/closure.yaml"
    log:
        "logs/closure_sample/{sample}.log",
    benchmark:
        "benchmarks/closure_sample/{sample}.tsv"
    shell:
        "python -m workflow_scripts.closure sample --sample {wildcards.sample} --embedded {input.embedded}"
        " --delphes {input.delphes} --jet-radius {params.jet_radius} --selection {params.selection} --npix {params.npix}"
        " --cnn-epochs {params.cnn_epochs} --tolerances {params.tolerances} --seed {params.seed} --threads {threads}"
        " --output {output.csv} --arrays {output.arrays} > {log} 2>&1"


rule closure_summary:
    input:
        tables=expand("results/closure/{sample}/closure.csv", sample=CLOSURE.get("samples", [])),
        arrays=expand("results/closure/{sample}/closure.npz", sample=CLOSURE.get("samples", [])),
    output:
        csv="results/metrics/validation/detector_closure.csv",
        pdf=report("results/figures/validation/detector_closure.pdf", category="Validation", caption="../report/detector_closure.rst"),
        png="results/figures/validation/detector_closure.png",
    conda:
        "../envs/closure.yaml"
    log:
        "logs/closure_summary/summary.log",
    shell:
        "python -m workflow_scripts.closure combine {input.tables} --arrays {input.arrays} --output {output.csv}"
        " --figure {output.pdf} > {log} 2>&1"
