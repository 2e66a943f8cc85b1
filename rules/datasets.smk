rule toy_datasets:
    output:
        "results/datasets/cohen2018_toy/toy.parquet",
    params:
        toy=TOY,
        seed=config["seed"],
    conda:
        "../envs/ml.yaml"
    log:
        "logs/toy_datasets/toy.log",
    benchmark:
        "benchmarks/toy_datasets/toy.tsv"
    shell:
        "python -m workflow_scripts.toy_study data --output {output}"
        " --n-per-set {params.toy[n_per_set]} --fraction-a {params.toy[fractions][0]}"
        " --fraction-b {params.toy[fractions][1]} --n-test {params.toy[n_test]}"
        " --test-fraction {params.toy[test_fraction]}"
        " --validation-fraction {params.toy[validation_fraction]} --seed {params.seed} > {log} 2>&1"


rule toy_bayes_optimal:
    input:
        rules.toy_datasets.output,
    output:
        metrics=f"{TOY_METRICS}/bayes_optimal.csv",
        roc=f"{TOY_METRICS}/bayes_optimal_roc.csv",
    conda:
        "../envs/ml.yaml"
    log:
        "logs/toy_bayes_optimal/toy.log",
    shell:
        "python -m workflow_scripts.toy_study bayes --data {input}"
        " --metrics {output.metrics} --roc {output.roc} > {log} 2>&1"
