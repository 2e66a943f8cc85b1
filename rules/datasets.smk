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


rule cwola_window_events:
    input:
        lambda wildcards: sample_chunks("events", wildcards.sample),
    output:
        "results/images/{sample}/window_events.parquet",
    params:
        signal_region=CWOLA["signal_region_gev"],
        sidebands=[edge for band in CWOLA["sidebands_gev"] for edge in band],
    conda:
        "../envs/ml.yaml"
    log:
        "logs/cwola_window_events/{sample}.log",
    shell:
        "python -m workflow_scripts.images windows --events {input} --signal-region {params.signal_region}"
        " --sidebands {params.sidebands} --sample {wildcards.sample} --output {output} > {log} 2>&1"


rule jet_images:
    input:
        events=lambda wildcards: sample_chunks("events", wildcards.sample),
        windows=rules.cwola_window_events.output,
    output:
        "results/images/{sample}/images_{npix}px.npy",
    conda:
        "../envs/ml.yaml"
    log:
        "logs/jet_images/{sample}/{npix}px.log",
    benchmark:
        "benchmarks/jet_images/{sample}/{npix}px.tsv"
    shell:
        "python -m workflow_scripts.images images --events {input.events} --windows {input.windows}"
        " --npix {wildcards.npix} --output {output} > {log} 2>&1"


rule cwola_test_set:
    input:
        background=window_events(CWOLA["background"]),
        signal=lambda wildcards: window_events(wildcards.benchmark),
    output:
        "results/datasets/cwola/{benchmark}/test.parquet",
    params:
        background=CWOLA["background"],
        n_test=CWOLA["n_test_per_class"],
        seed=config["seed"],
    conda:
        "../envs/ml.yaml"
    log:
        "logs/cwola_test_set/{benchmark}.log",
    shell:
        "python -m workflow_scripts.datasets test --background-windows {input.background} --signal-windows {input.signal}"
        " --background {params.background} --signal {wildcards.benchmark} --n-test {params.n_test}"
        " --seed {params.seed} --output {output} > {log} 2>&1"


rule cwola_dataset:
    input:
        background=window_events(CWOLA["background"]),
        signal=lambda wildcards: window_events(wildcards.benchmark),
        test=rules.cwola_test_set.output,
    output:
        "results/datasets/cwola/{benchmark}/ssb{injection}/trial{trial}.parquet",
    params:
        background=CWOLA["background"],
        background_sr_events=CWOLA["background_sr_events"],
        validation_fraction=CWOLA["validation_fraction"],
        seed=config["seed"],
    conda:
        "../envs/ml.yaml"
    log:
        "logs/cwola_dataset/{benchmark}/ssb{injection}/trial{trial}.log",
    shell:
        "python -m workflow_scripts.datasets experiment --background-windows {input.background}"
        " --signal-windows {input.signal} --test-set {input.test} --background {params.background}"
        " --signal {wildcards.benchmark} --background-sr-events {params.background_sr_events}"
        " --injection {wildcards.injection} --trial {wildcards.trial}"
        " --validation-fraction {params.validation_fraction} --seed {params.seed} --output {output} > {log} 2>&1"


rule transfer_pretraining_set:
    input:
        background=window_events(CWOLA["background"]),
        test=rules.cwola_test_set.output,
        signals=lambda wildcards: [window_events(sample) for sample in pretraining_signals(wildcards)],
    output:
        "results/datasets/transfer/{benchmark}/pretraining.parquet",
    params:
        background=CWOLA["background"],
        n_per_class=lambda wildcards: CWOLA["transfer"]["n_per_class"],
        validation_fraction=CWOLA["validation_fraction"],
        seed=config["seed"],
    conda:
        "../envs/ml.yaml"
    log:
        "logs/transfer_pretraining_set/{benchmark}.log",
    shell:
        "python -m workflow_scripts.datasets pretraining --background-windows {input.background} --test-set {input.test}"
        " --signal-windows {input.signals} --background {params.background} --held-out {wildcards.benchmark}"
        " --n-per-class {params.n_per_class} --validation-fraction {params.validation_fraction}"
        " --seed {params.seed} --output {output} > {log} 2>&1"


rule lhc_dataset:
    input:
        signal=lambda wildcards: sample_chunks("events", LHC["signal"]),
        background=lambda wildcards: [path for name in LHC["backgrounds"] for path in sample_chunks("events", name)],
    output:
        "results/datasets/cohen2018_lhc/events.parquet",
    params:
        seed=config["seed"],
    conda:
        "../envs/ml.yaml"
    log:
        "logs/lhc_dataset/events.log",
    shell:
        "python -m workflow_scripts.lhc_study data --signal {input.signal} --background {input.background}"
        " --seed {params.seed} --output {output} > {log} 2>&1"
