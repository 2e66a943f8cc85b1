rule train_toy_run:
    input:
        data=rules.toy_datasets.output,
        bayes=rules.toy_bayes_optimal.output.metrics,
    output:
        model="results/models/cohen2018_toy/{toy_run}.pt",
        metrics=f"{TOY_METRICS}/runs/{{toy_run}}/metrics.csv",
        roc=f"{TOY_METRICS}/runs/{{toy_run}}/roc.csv",
        hist=f"{TOY_METRICS}/runs/{{toy_run}}/outputs_hist.csv",
    params:
        net=TOY["network"],
        members=TOY["trainings_per_run"],
        label_a=TOY["fractions"][0],
        seed=config["seed"],
        device=config["training"]["device"],
        compile="--compile" if TOY["compile"] else "",
    threads: TOY["threads"]
    resources:
        gpu=toy_training_resources,
    conda:
        "../envs/ml.yaml"
    log:
        "logs/train_toy_run/{toy_run}.log",
    benchmark:
        "benchmarks/train_toy_run/{toy_run}.tsv"
    shell:
        "python -m workflow_scripts.toy_study train --data {input.data} --bayes {input.bayes}"
        " --run {wildcards.toy_run} --members {params.members} --label-a {params.label_a}"
        " --hidden {params.net[hidden]} --optimizer {params.net[optimizer]}"
        " --learning-rate {params.net[learning_rate]} --batch-size {params.net[batch_size]}"
        " --epochs {params.net[epochs]} --seed {params.seed} --device {params.device}"
        " {params.compile} --threads {threads} --model {output.model} --metrics {output.metrics}"
        " --roc {output.roc} --hist {output.hist} > {log} 2>&1"


rule toy_summary:
    input:
        toy_run_outputs("metrics"),
    output:
        f"{TOY_METRICS}/summary.csv",
    conda:
        "../envs/ml.yaml"
    log:
        "logs/toy_summary/summary.log",
    shell:
        "python -m workflow_scripts.tables concat {input} --output {output} > {log} 2>&1"
