rule train_toy_job:
    input:
        data=rules.toy_datasets.output,
        bayes=rules.toy_bayes_optimal.output.metrics,
    output:
        model="results/models/cohen2018_toy/{toy_job}.pt",
        metrics=f"{TOY_METRICS}/jobs/{{toy_job}}/metrics.csv",
        roc=f"{TOY_METRICS}/jobs/{{toy_job}}/roc.csv",
        hist=f"{TOY_METRICS}/jobs/{{toy_job}}/outputs_hist.csv",
    params:
        runs=lambda wildcards: TOY_JOBS[wildcards.toy_job],
        net=TOY["network"],
        members=TOY["trainings_per_run"],
        label_a=TOY["fractions"][0],
        seed=config["seed"],
        device=config["training"]["device"],
        compile="--compile" if TOY["compile"] else "",
    threads: TOY["threads"]
    resources:
        gpu=training_gpus,
    conda:
        "../envs/ml.yaml"
    log:
        "logs/train_toy_job/{toy_job}.log",
    benchmark:
        "benchmarks/train_toy_job/{toy_job}.tsv"
    shell:
        "python -m workflow_scripts.toy_study train --data {input.data} --bayes {input.bayes}"
        " --runs {params.runs} --members {params.members} --label-a {params.label_a}"
        " --hidden {params.net[hidden]} --optimizer {params.net[optimizer]}"
        " --learning-rate {params.net[learning_rate]} --batch-size {params.net[batch_size]}"
        " --epochs {params.net[epochs]} --seed {params.seed} --device {params.device}"
        " {params.compile} --threads {threads} --model {output.model} --metrics {output.metrics}"
        " --roc {output.roc} --hist {output.hist} > {log} 2>&1"


rule toy_summary:
    input:
        toy_job_outputs("metrics"),
    output:
        f"{TOY_METRICS}/summary.csv",
    conda:
        "../envs/ml.yaml"
    log:
        "logs/toy_summary/summary.log",
    shell:
        "python -m workflow_scripts.tables concat {input} --output {output} > {log} 2>&1"
