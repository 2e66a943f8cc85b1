# Checks that the generation shortcuts do not bias the analysis:
#   check_generator_cuts (+ its figure):  a loosely generated background, cut as the tight samples are generated:
#                                         how many events in the signal region and sidebands would be lost
#   closure_embedded / closure_delphes:   a chunk through the detector its sample is not configured with
#                                         (its own detector's file, results/delphes/..., is reused)
#   closure_sample:                       one sample's tidy closure table, mean images, pull and response
#   closure_summary (+ its figure):       every closure sample in one CSV (target `closure`)
#   chain_comparison_table (+ figure):    the CWoLa study of this run against another run's (another generator chain)
#                                         (target `chain_comparison`)


rule check_generator_cuts:
    input:
        lambda wildcards: sample_chunks("events", generator_cut_check_sample("loose_sample")),
    output:
        "results/metrics/cwola/generator_cut_check.csv",
    log:
        "logs/check_generator_cuts/check.log",
    conda:
        "../envs/ml.yaml"
    params:
        regions=json_argument(CWOLA_REGIONS.to_dict()),
        tight=lambda wildcards: SAMPLES[generator_cut_check_sample("sample")],
    shell:
        "python -m workflow_scripts.validation.generator_cuts --loose-events {input} --regions {params.regions}"
        " --pt-hat-min-gev {params.tight[pt_hat_min_gev]} --m-hat-min-gev {params.tight[m_hat_min_gev]}"
        " --output {output} > {log} 2>&1"


rule check_generator_cuts_figure:
    input:
        loose_events=lambda wildcards: sample_chunks("events", generator_cut_check_sample("loose_sample")),
        check=rules.check_generator_cuts.output,
    output:
        pdf=report(
            "results/figures/cwola/check_generator_cuts.pdf", category="Validation", caption="../report/check_generator_cuts.rst"
        ),
        png="results/figures/cwola/check_generator_cuts.png",
    log:
        "logs/check_generator_cuts_figure/check.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"regions": CWOLA_REGIONS.to_dict()}),
    shell:
        "python -m workflow_scripts.figures validation-generator-cuts --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"


use rule simulate_detector as closure_embedded with:
    output:
        "results/closure/embedded/{sample}/chunk{chunk}.root",
    log:
        "logs/closure_embedded/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/closure_embedded/{sample}/chunk{chunk}.tsv"
    wildcard_constraints:
        sample=SAMPLE_PATTERN,


use rule simulate_delphes as closure_delphes with:
    output:
        "results/closure/delphes/{sample}/chunk{chunk}.root",
    log:
        "logs/closure_delphes/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/closure_delphes/{sample}/chunk{chunk}.tsv"
    wildcard_constraints:
        sample=SAMPLE_PATTERN,


rule closure_sample:
    input:
        embedded=lambda wildcards: closure_detector_files(wildcards.sample, "embedded"),
        delphes=lambda wildcards: closure_detector_files(wildcards.sample, "delphes"),
    output:
        csv="results/closure/{sample}/closure.csv",
        arrays="results/closure/{sample}/closure.npz",
    log:
        "logs/closure_sample/{sample}.log",
    benchmark:
        "benchmarks/closure_sample/{sample}.tsv"
    conda:
        "../envs/closure.yaml"
    threads: 1
    params:
        jet_radius=lambda wildcards: SAMPLES[wildcards.sample]["jet_radius"],
        selection=lambda wildcards: json_argument(config["selections"][SAMPLES[wildcards.sample]["selection"]]),
        npix=CLOSURE.get("npix", 25),
        cnn_epochs=CLOSURE.get("cnn_epochs", 50),
        tolerances=json_argument(CLOSURE.get("tolerances", {})),
        seed=lambda wildcards: derive_seed(config["seed"], "closure", wildcards.sample),
    shell:
        "python -m workflow_scripts.validation.closure sample --sample {wildcards.sample} --embedded {input.embedded}"
        " --delphes {input.delphes} --jet-radius {params.jet_radius} --selection {params.selection} --npix {params.npix}"
        " --cnn-epochs {params.cnn_epochs} --tolerances {params.tolerances} --seed {params.seed} --threads {threads}"
        " --output {output.csv} --arrays {output.arrays} > {log} 2>&1"


rule closure_summary:
    input:
        expand("results/closure/{sample}/closure.csv", sample=CLOSURE.get("samples", [])),
    output:
        "results/metrics/validation/detector_closure.csv",
    log:
        "logs/closure_summary/summary.log",
    conda:
        "../envs/closure.yaml"
    shell:
        "python -m workflow_scripts.validation.closure combine {input} --output {output} > {log} 2>&1"


rule closure_figure:
    input:
        tables=expand("results/closure/{sample}/closure.csv", sample=CLOSURE.get("samples", [])),
        arrays=expand("results/closure/{sample}/closure.npz", sample=CLOSURE.get("samples", [])),
    output:
        pdf=report(
            "results/figures/validation/detector_closure.pdf", category="Validation", caption="../report/detector_closure.rst"
        ),
        png="results/figures/validation/detector_closure.png",
    log:
        "logs/closure_figure/closure.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
    shell:
        "python -m workflow_scripts.figures validation-detector-closure --inputs {params.inputs} --output {output.pdf} > {log} 2>&1"


rule chain_comparison_table:
    input:
        unpack(chain_comparison_inputs),
    output:
        "results/metrics/validation/chain_comparison.csv",
    log:
        "logs/chain_comparison_table/comparison.log",
    conda:
        "../envs/ml.yaml"
    params:
        chains=lambda wildcards, input: json_argument(chain_comparison_chains(input)),
        regions=json_argument(CWOLA_REGIONS.to_dict()),
    shell:
        "python -m workflow_scripts.studies.cwola.chain_comparison --chains {params.chains} --regions {params.regions}"
        " --output {output} > {log} 2>&1"


rule chain_comparison_figure:
    input:
        table=rules.chain_comparison_table.output,
    output:
        pdf=report(
            "results/figures/validation/chain_comparison.pdf", category="Validation", caption="../report/chain_comparison.rst"
        ),
        png="results/figures/validation/chain_comparison.png",
    log:
        "logs/chain_comparison_figure/comparison.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"regions": CWOLA_REGIONS.to_dict()}),
    shell:
        "python -m workflow_scripts.figures validation-chain-comparison --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"
