# Cohen, Freytsis and Ostdiek (JHEP 2018), the LHC study (section 5): gluino pairs against Z(->nu nu)+jets.
#   lhc_dataset:      the samples' events -> 11 features, labels, weights, splits, weak-supervision sets; the cut flow
#   train_lhc:        full and weak supervision under each mismodelling -> Tables 3 and 4, ROC curves
#   lhc_combination:  both networks on the MET-binned background and their combination (Figs. 9, 11)
#   cohen2018_fig09/10/11:  the figures, from those tables


rule lhc_dataset:
    input:
        signal=lambda wildcards: sample_chunks("events", LHC["signal"]),
        background=lambda wildcards: [path for name in LHC["backgrounds"] for path in sample_chunks("events", name)],
    output:
        data="results/datasets/cohen2018_lhc/events.parquet",
        cut_flow=f"{LHC_METRICS}/cut_flow.csv",
    log:
        "logs/lhc_dataset/events.log",
    conda:
        "../envs/ml.yaml"
    params:
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.studies.cohen2018_lhc.study data --signal {input.signal} --background {input.background}"
        " --seed {params.seed} --output {output.data} --cut-flow {output.cut_flow} > {log} 2>&1"


rule train_lhc:
    input:
        rules.lhc_dataset.output.data,
    output:
        metrics=f"{LHC_METRICS}/trainings.csv",
        table=f"{LHC_METRICS}/table3.csv",
        table4=f"{LHC_METRICS}/table4.csv",
        rendered=f"{LHC_METRICS}/tables.md",
        roc=f"{LHC_METRICS}/roc.csv",
        model="results/models/cohen2018_lhc/baseline.pt",
    log:
        "logs/train_lhc/trainings.log",
    benchmark:
        "benchmarks/train_lhc/trainings.tsv"
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        gpu=training_gpus,
    params:
        settings=lambda wildcards: json_argument(
            {
                "members": LHC["trainings"],
                "network": LHC["network"],
                "seed": config["seed"],
                "device": config["training"]["device"],
            }
        ),
    shell:
        "python -m workflow_scripts.studies.cohen2018_lhc.study train --data {input} --settings {params.settings}"
        " --threads {threads} --metrics {output.metrics} --table {output.table} --table4 {output.table4}"
        " --rendered {output.rendered} --roc {output.roc} --model {output.model} > {log} 2>&1"


rule lhc_combination:
    input:
        data=rules.lhc_dataset.output.data,
        model=rules.train_lhc.output.model,
        background=lambda wildcards: [path for name in LHC["evaluation_backgrounds"] for path in sample_chunks("events", name)],
    output:
        events=f"{LHC_METRICS}/evaluation_events.parquet",
        working_points=f"{LHC_METRICS}/working_points.csv",
        grid=f"{LHC_METRICS}/combination_grid.csv",
        combiner="results/models/cohen2018_lhc/combination.pt",
    log:
        "logs/lhc_combination/combination.log",
    benchmark:
        "benchmarks/lhc_combination/combination.tsv"
    conda:
        "../envs/ml.yaml"
    threads: 1
    params:
        settings=lambda wildcards: json_argument({**LHC["combination"], "seed": config["seed"]}),
    shell:
        "python -m workflow_scripts.studies.cohen2018_lhc.combination --data {input.data} --model {input.model}"
        " --background {input.background} --settings {params.settings} --threads {threads} --events {output.events}"
        " --working-points {output.working_points} --grid {output.grid} --combiner {output.combiner} > {log} 2>&1"


rule cohen2018_fig10_mismodelling:
    input:
        roc=rules.train_lhc.output.roc,
    output:
        pdf=report(
            "results/figures/cohen2018/fig10_mismodelling.pdf",
            category="Cohen 2018 LHC",
            caption="../report/cohen2018_fig10_mismodelling.rst",
        ),
        png="results/figures/cohen2018/fig10_mismodelling.png",
    log:
        "logs/cohen2018_fig10_mismodelling/fig10.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
    shell:
        "python -m workflow_scripts.figures cohen2018-fig10 --inputs {params.inputs} --output {output.pdf} > {log} 2>&1"


rule cohen2018_fig09_high_met:
    input:
        events=rules.lhc_combination.output.events,
        working_points=rules.lhc_combination.output.working_points,
    output:
        pdf=report(
            "results/figures/cohen2018/fig09_high_met.pdf",
            category="Cohen 2018 LHC",
            caption="../report/cohen2018_fig09_high_met.rst",
        ),
        png="results/figures/cohen2018/fig09_high_met.png",
    log:
        "logs/cohen2018_fig09_high_met/fig09.log",
    conda:
        "../envs/plotting.yaml"
    params:
        figure="cohen2018-fig09",
        inputs=named_inputs,
    shell:
        "python -m workflow_scripts.figures {params.figure} --inputs {params.inputs} --output {output.pdf} > {log} 2>&1"


use rule cohen2018_fig09_high_met as cohen2018_fig11_combination with:
    input:
        events=rules.lhc_combination.output.events,
        working_points=rules.lhc_combination.output.working_points,
        grid=rules.lhc_combination.output.grid,
    output:
        pdf=report(
            "results/figures/cohen2018/fig11_combination.pdf",
            category="Cohen 2018 LHC",
            caption="../report/cohen2018_fig11_combination.rst",
        ),
        png="results/figures/cohen2018/fig11_combination.png",
    log:
        "logs/cohen2018_fig11_combination/fig11.log",
    params:
        figure="cohen2018-fig11",
        inputs=named_inputs,
