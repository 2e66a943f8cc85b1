# Cohen, Freytsis and Ostdiek (JHEP 2018), the toy model (section 3, appendix A); no generated events:
#   toy_datasets:          the Table 2 mixtures -> results/datasets/cohen2018_toy/toy.parquet
#   toy_bayes_optimal:     the exact likelihood ratio on the test set (the ceiling)
#   train_toy_job:         one job's runs (full, weak at each label, each loss) as one batched ensemble
#   toy_summary:           every job's metrics in one CSV
#   cohen2018_toy_figure:  Figs. 4-7 and 12 from the metrics, ROC and histogram CSVs


rule toy_datasets:
    output:
        "results/datasets/cohen2018_toy/toy.parquet",
    log:
        "logs/toy_datasets/toy.log",
    benchmark:
        "benchmarks/toy_datasets/toy.tsv"
    conda:
        "../envs/ml.yaml"
    params:
        settings=json_argument(
            {key: TOY[key] for key in ("n_per_set", "fractions", "n_test", "test_fraction", "validation_fraction")}
            | {"seed": config["seed"]}
        ),
    shell:
        "python -m workflow_scripts.studies.cohen2018_toy.study data --settings {params.settings} --output {output} > {log} 2>&1"


rule toy_bayes_optimal:
    input:
        rules.toy_datasets.output,
    output:
        metrics=f"{TOY_METRICS}/bayes_optimal.csv",
        roc=f"{TOY_METRICS}/bayes_optimal_roc.csv",
    log:
        "logs/toy_bayes_optimal/toy.log",
    conda:
        "../envs/ml.yaml"
    shell:
        "python -m workflow_scripts.studies.cohen2018_toy.study bayes --data {input}"
        " --metrics {output.metrics} --roc {output.roc} > {log} 2>&1"


rule train_toy_job:
    input:
        data=rules.toy_datasets.output,
        bayes=rules.toy_bayes_optimal.output.metrics,
    output:
        model="results/models/cohen2018_toy/{toy_job}.pt",
        metrics=f"{TOY_METRICS}/jobs/{{toy_job}}/metrics.csv",
        roc=f"{TOY_METRICS}/jobs/{{toy_job}}/roc.csv",
        hist=f"{TOY_METRICS}/jobs/{{toy_job}}/outputs_hist.csv",
    log:
        "logs/train_toy_job/{toy_job}.log",
    benchmark:
        "benchmarks/train_toy_job/{toy_job}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: TOY["threads"]
    resources:
        gpu=training_gpus,
    params:
        settings=toy_job_settings,
    shell:
        "python -m workflow_scripts.studies.cohen2018_toy.study train --data {input.data} --bayes {input.bayes}"
        " --settings {params.settings} --threads {threads} --model {output.model} --metrics {output.metrics}"
        " --roc {output.roc} --hist {output.hist} > {log} 2>&1"


rule toy_summary:
    input:
        toy_job_outputs("metrics"),
    output:
        f"{TOY_METRICS}/summary.csv",
    log:
        "logs/toy_summary/summary.log",
    conda:
        "../envs/ml.yaml"
    shell:
        "python -m workflow_scripts.core.tables concat {input} --output {output} > {log} 2>&1"


rule cohen2018_toy_figure:
    input:
        metrics=toy_job_outputs("metrics"),
        roc=toy_job_outputs("roc"),
        hist=toy_job_outputs("outputs_hist"),
        bayes=rules.toy_bayes_optimal.output.metrics,
        bayes_roc=rules.toy_bayes_optimal.output.roc,
    output:
        pdf=report(
            "results/figures/cohen2018/{figure}.pdf",
            category="Cohen 2018 toy model",
            caption="../report/cohen2018_toy_figures.rst",
        ),
        png="results/figures/cohen2018/{figure}.png",
    log:
        "logs/cohen2018_toy_figure/{figure}.log",
    wildcard_constraints:
        figure="|".join(COHEN2018_TOY_FIGURES),
    conda:
        "../envs/plotting.yaml"
    params:
        name=lambda wildcards: COHEN2018_TOY_FIGURES[wildcards.figure],
        inputs=named_inputs,
    shell:
        "python -m workflow_scripts.figures {params.name} --inputs {params.inputs} --output {output.pdf} > {log} 2>&1"
