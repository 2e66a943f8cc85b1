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


rule pretrain_transfer:
    input:
        dataset=rules.transfer_pretraining_set.output,
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        signal_images=lambda wildcards: [image_file(sample, wildcards.npix) for sample in pretraining_signals(wildcards)],
    output:
        model="results/models/{transfer}/{benchmark}/{npix}px/pretrained.pt",
        history=f"{CWOLA_METRICS}/{{transfer}}_pretraining/{{benchmark}}/{{npix}}px_history.csv",
    params:
        images=lambda wildcards: " ".join(
            f"{sample}={image_file(sample, wildcards.npix)}"
            for sample in [CWOLA["background"], *pretraining_signals(wildcards)]),
        network=lambda wildcards: method_network(wildcards.transfer),
        fit=lambda wildcards: shlex.quote(json.dumps(CWOLA["transfer"]["fit"])),
        unit_intensity="--unit-intensity" if CWOLA["unit_intensity_images"] else "",
        seed=config["seed"],
        device=config["training"]["device"],
    wildcard_constraints:
        transfer="transfer|transfer_large",
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=pretraining_mem_mb,
        runtime=cwola_training_runtime,
    conda:
        "../envs/ml.yaml"
    log:
        "logs/pretrain_transfer/{transfer}/{benchmark}/{npix}px.log",
    benchmark:
        "benchmarks/pretrain_transfer/{transfer}/{benchmark}/{npix}px.tsv"
    shell:
        "python -m workflow_scripts.training pretrain --dataset {input.dataset} --images {params.images}"
        " --network {params.network} --fit {params.fit} --held-out {wildcards.benchmark} {params.unit_intensity}"
        " --seed {params.seed} --device {params.device} --threads {threads} --model {output.model}"
        " --history {output.history} > {log} 2>&1"


rule meta_train:
    input:
        pretrained=lambda wildcards: "results/models/{transfer}/{benchmark}/{npix}px/pretrained.pt".format(
            transfer=wildcards.meta.replace("meta", "transfer"), benchmark=wildcards.benchmark, npix=wildcards.npix),
        background_windows=window_events(CWOLA["background"]),
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        test=rules.cwola_test_set.output,
        signal_windows=lambda wildcards: [window_events(sample) for sample in pretraining_signals(wildcards)],
        signal_images=lambda wildcards: [image_file(sample, wildcards.npix) for sample in pretraining_signals(wildcards)],
    output:
        model="results/models/{meta}/{benchmark}/{npix}px/meta_trained.pt",
        history=f"{CWOLA_METRICS}/{{meta}}_training/{{benchmark}}/{{npix}}px_history.csv",
    params:
        signals=lambda wildcards: " ".join(
            f"{sample}={window_events(sample)},{image_file(sample, wildcards.npix)}" for sample in pretraining_signals(wildcards)),
        settings=lambda wildcards: shlex.quote(json.dumps(CWOLA["meta"])),
        unit_intensity="--unit-intensity" if CWOLA["unit_intensity_images"] else "",
        seed=config["seed"],
        device=config["training"]["device"],
    wildcard_constraints:
        meta="meta|meta_large",
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=cwola_training_mem_mb,
        runtime=cwola_training_runtime,
    conda:
        "../envs/ml.yaml"
    log:
        "logs/meta_train/{meta}/{benchmark}/{npix}px.log",
    benchmark:
        "benchmarks/meta_train/{meta}/{benchmark}/{npix}px.tsv"
    shell:
        "python -m workflow_scripts.meta --pretrained {input.pretrained} --background-windows {input.background_windows}"
        " --background-images {input.background_images} --test-set {input.test} --signals {params.signals}"
        " --held-out {wildcards.benchmark} --settings {params.settings} {params.unit_intensity} --seed {params.seed}"
        " --device {params.device} --threads {threads} --model {output.model} --history {output.history} > {log} 2>&1"


rule train_cwola:
    input:
        dataset=rules.cwola_dataset.output,
        test=rules.cwola_test_set.output,
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        signal_images=lambda wildcards: image_file(wildcards.benchmark, wildcards.npix),
        pretrained=pretrained_model,
    output:
        model="results/models/{method}/{benchmark}/{npix}px/ssb{injection}/trial{trial}.pt",
        metrics=f"{CWOLA_METRICS}/{{method}}_trainings/{{benchmark}}/{{npix}}px/ssb{{injection}}/trial{{trial}}.csv",
        history=f"{CWOLA_METRICS}/{{method}}_trainings/{{benchmark}}/{{npix}}px/ssb{{injection}}/trial{{trial}}_history.csv",
    params:
        network=lambda wildcards: method_network(wildcards.method),
        fit=shlex.quote(json.dumps(CWOLA["fit"])),
        efficiencies=CWOLA["background_efficiencies"],
        identifiers=lambda wildcards: shlex.quote(json.dumps({
            "benchmark": wildcards.benchmark, "resolution": int(wildcards.npix),
            "injection": float(wildcards.injection), "trial": int(wildcards.trial)})),
        pretrained=lambda wildcards, input: f"--pretrained {input.pretrained}" if input.pretrained else "",
        unit_intensity="--unit-intensity" if CWOLA["unit_intensity_images"] else "",
        seed=config["seed"],
        device=config["training"]["device"],
    wildcard_constraints:
        method="cwola|transfer|meta|transfer_large|meta_large",
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=cwola_training_mem_mb,
        runtime=cwola_training_runtime,
    conda:
        "../envs/ml.yaml"
    log:
        "logs/train_cwola/{method}/{benchmark}/{npix}px/ssb{injection}/trial{trial}.log",
    benchmark:
        "benchmarks/train_cwola/{method}/{benchmark}/{npix}px/ssb{injection}/trial{trial}.tsv"
    shell:
        "python -m workflow_scripts.training cwola --dataset {input.dataset} --test-set {input.test}"
        " --background-images {input.background_images} --signal-images {input.signal_images}"
        " --network {params.network} --fit {params.fit} --background-efficiencies {params.efficiencies}"
        " --identifiers {params.identifiers} --method {wildcards.method} {params.pretrained} {params.unit_intensity}"
        " --seed {params.seed}"
        " --device {params.device} --threads {threads} --model {output.model} --metrics {output.metrics}"
        " --history {output.history} > {log} 2>&1"


rule cwola_summary:
    input:
        lambda wildcards: cwola_training_outputs(wildcards.method),
    output:
        f"{CWOLA_METRICS}/{{method}}_summary.csv",
    wildcard_constraints:
        method="cwola|transfer|meta|transfer_large|meta_large",
    conda:
        "../envs/ml.yaml"
    log:
        "logs/cwola_summary/{method}.log",
    shell:
        "python -m workflow_scripts.tables concat {input} --output {output} > {log} 2>&1"


rule train_lhc:
    input:
        rules.lhc_dataset.output,
    output:
        metrics=f"{LHC_METRICS}/trainings.csv",
        table=f"{LHC_METRICS}/table3.csv",
        table4=f"{LHC_METRICS}/table4.csv",
        rendered=f"{LHC_METRICS}/tables.md",
        roc=f"{LHC_METRICS}/roc.csv",
        model="results/models/cohen2018_lhc/baseline.pt",
    params:
        net=lambda wildcards: LHC["network"],
        members=lambda wildcards: LHC["trainings"],
        seed=config["seed"],
        device=config["training"]["device"],
    threads: 1
    resources:
        gpu=training_gpus,
    conda:
        "../envs/ml.yaml"
    log:
        "logs/train_lhc/trainings.log",
    benchmark:
        "benchmarks/train_lhc/trainings.tsv"
    shell:
        "python -m workflow_scripts.lhc_study train --data {input} --members {params.members}"
        " --hidden {params.net[hidden]} --optimizer {params.net[optimizer]} --learning-rate {params.net[learning_rate]}"
        " --batch-size {params.net[batch_size]} --epochs {params.net[epochs]} --seed {params.seed}"
        " --device {params.device} --threads {threads} --metrics {output.metrics} --table {output.table}"
        " --table4 {output.table4} --rendered {output.rendered} --roc {output.roc} --model {output.model} > {log} 2>&1"


rule lhc_combination:
    input:
        data=rules.lhc_dataset.output,
        model=rules.train_lhc.output.model,
        background=lambda wildcards: [path for name in LHC["evaluation_backgrounds"] for path in sample_chunks("events", name)],
    output:
        events=f"{LHC_METRICS}/evaluation_events.parquet",
        working_points=f"{LHC_METRICS}/working_points.csv",
        grid=f"{LHC_METRICS}/combination_grid.csv",
        combiner="results/models/cohen2018_lhc/combination.pt",
    params:
        combination=lambda wildcards: LHC["combination"],
        efficiencies=lambda wildcards: " ".join(str(value) for value in LHC["combination"]["signal_efficiencies"]),
        seed=config["seed"],
    threads: 1
    conda:
        "../envs/ml.yaml"
    log:
        "logs/lhc_combination/combination.log",
    benchmark:
        "benchmarks/lhc_combination/combination.tsv"
    shell:
        "python -m workflow_scripts.lhc_combination --data {input.data} --model {input.model} --background {input.background}"
        " --signal-efficiencies {params.efficiencies}"
        " --background-to-signal {params.combination[background_to_signal_weight]}"
        " --hidden {params.combination[network][hidden]} --optimizer {params.combination[network][optimizer]}"
        " --learning-rate {params.combination[network][learning_rate]} --batch-size {params.combination[network][batch_size]}"
        " --epochs {params.combination[network][epochs]} --seed {params.seed} --threads {threads}"
        " --events {output.events} --working-points {output.working_points} --grid {output.grid}"
        " --combiner {output.combiner} > {log} 2>&1"
