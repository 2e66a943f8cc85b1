# Beauchesne, Chen and Chiang: CWoLa on jet images, with transfer and meta-transfer learning.
#   cwola_window_events:       a sample's events in the signal region or a sideband -> window table
#   jet_images:                those events' preprocessed images, one .npy per resolution (rows = window-table rows)
#   cwola_test_set:            a benchmark's fixed test events (never trained on)
#   cwola_dataset:             one pseudo-experiment: background plus injected signal, SR against SB
#   transfer_pretraining_set:  pure background against the other benchmarks' signals
#   pretrain_transfer, meta_train:  the held-out benchmark's pretrained and meta-trained networks
#   train_cwola:               every pseudo-experiment of a (method, benchmark, resolution), trained from scratch or
#                              fine-tuned -> per pseudo-experiment: model, metrics CSV, test ROC
#   cwola_supervised_set, train_supervised:  the fully supervised ceiling (pure SR signal against SR background)
#   cwola_summary, cwola_roc_summary:        every training of a method in one CSV
#   cwola_sculpting:           does a cut on each network sculpt the held-out background's M_jj (SR against SB)?
#   cwola_learning_thresholds: the injected S/sqrt(B) at which each method reaches 5 sigma after the cut
#   cwola_fig01..fig06, cwola_sic, cwola_sculpting_figure:  the figures, from window tables, panels and summaries


rule cwola_window_events:
    input:
        lambda wildcards: sample_chunks("events", wildcards.sample),
    output:
        "results/images/{sample}/window_events.parquet",
    log:
        "logs/cwola_window_events/{sample}.log",
    conda:
        "../envs/ml.yaml"
    params:
        regions=json_argument(CWOLA_REGIONS.to_dict()),
    shell:
        "python -m workflow_scripts.analysis.regions --events {input} --regions {params.regions}"
        " --sample {wildcards.sample} --output {output} > {log} 2>&1"


rule jet_images:
    input:
        events=lambda wildcards: sample_chunks("events", wildcards.sample),
        windows=rules.cwola_window_events.output,
    output:
        "results/images/{sample}/images_{npix}px.npy",
    log:
        "logs/jet_images/{sample}/{npix}px.log",
    benchmark:
        "benchmarks/jet_images/{sample}/{npix}px.tsv"
    conda:
        "../envs/ml.yaml"
    params:
        zoom="",
    shell:
        "python -m workflow_scripts.analysis.images build --events {input.events} --windows {input.windows}"
        " --npix {wildcards.npix} {params.zoom} --output {output} > {log} 2>&1"


# Not in the paper: coordinates zoomed by jet pT over a reference (config key cwola.image_zoom_reference_pt_gev).
use rule jet_images as jet_images_zoomed with:
    output:
        "results/images/{sample}/images_{npix}px_zoom{reference}gev.npy",
    log:
        "logs/jet_images/{sample}/{npix}px_zoom{reference}gev.log",
    benchmark:
        "benchmarks/jet_images/{sample}/{npix}px_zoom{reference}gev.tsv"
    wildcard_constraints:
        reference=r"\d+",
    params:
        zoom=lambda wildcards: f"--zoom-reference-pt {wildcards.reference}",


rule cwola_test_set:
    input:
        background=window_events(CWOLA["background"]),
        signal=lambda wildcards: window_events(wildcards.benchmark),
    output:
        "results/datasets/cwola/{benchmark}/test.parquet",
    log:
        "logs/cwola_test_set/{benchmark}.log",
    conda:
        "../envs/ml.yaml"
    params:
        background=CWOLA["background"],
        n_test=CWOLA["n_test_per_class"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.studies.cwola.datasets test --background-windows {input.background}"
        " --signal-windows {input.signal} --background {params.background} --signal {wildcards.benchmark}"
        " --n-test {params.n_test} --seed {params.seed} --output {output} > {log} 2>&1"


rule cwola_dataset:
    input:
        background=window_events(CWOLA["background"]),
        signal=lambda wildcards: window_events(wildcards.benchmark),
        test=rules.cwola_test_set.output,
    output:
        "results/datasets/cwola/{benchmark}/ssb{injection}/trial{trial}.parquet",
    log:
        "logs/cwola_dataset/{benchmark}/ssb{injection}/trial{trial}.log",
    conda:
        "../envs/ml.yaml"
    params:
        background=CWOLA["background"],
        background_sr_events=CWOLA["background_sr_events"],
        validation_fraction=CWOLA["validation_fraction"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.studies.cwola.datasets experiment --background-windows {input.background}"
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
    log:
        "logs/transfer_pretraining_set/{benchmark}.log",
    conda:
        "../envs/ml.yaml"
    params:
        signal_windows=lambda wildcards: json_argument(
            {sample: window_events(sample) for sample in pretraining_signals(wildcards)}
        ),
        background=CWOLA["background"],
        n_per_class=lambda wildcards: CWOLA["transfer"]["n_per_class"],
        validation_fraction=CWOLA["validation_fraction"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.studies.cwola.datasets pretraining --background-windows {input.background}"
        " --test-set {input.test} --signal-windows {params.signal_windows} --background {params.background}"
        " --held-out {wildcards.benchmark} --n-per-class {params.n_per_class}"
        " --validation-fraction {params.validation_fraction} --seed {params.seed} --output {output} > {log} 2>&1"


rule pretrain_transfer:
    input:
        dataset=rules.transfer_pretraining_set.output,
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        signal_images=lambda wildcards: [image_file(sample, wildcards.npix) for sample in pretraining_signals(wildcards)],
    output:
        model="results/models/{transfer}/{benchmark}/{npix}px/pretrained.pt",
        history=f"{CWOLA_METRICS}/{{transfer}}_pretraining/{{benchmark}}/{{npix}}px_history.csv",
    log:
        "logs/pretrain_transfer/{transfer}/{benchmark}/{npix}px.log",
    benchmark:
        "benchmarks/pretrain_transfer/{transfer}/{benchmark}/{npix}px.tsv"
    wildcard_constraints:
        transfer="transfer|transfer_large",
    conda:
        "../envs/ml.yaml"
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=pretraining_mem_mb,
        runtime=cwola_training_runtime,
    params:
        images=lambda wildcards: json_argument(
            {sample: image_file(sample, wildcards.npix) for sample in [CWOLA["background"], *pretraining_signals(wildcards)]}
        ),
        settings=lambda wildcards: json_argument(
            {
                "network": method_network(wildcards.transfer),
                "fit": CWOLA["transfer"]["fit"],
                "held_out": wildcards.benchmark,
                "unit_intensity": CWOLA["unit_intensity_images"],
                "seed": config["seed"],
                "device": config["training"]["device"],
            }
        ),
    shell:
        "python -m workflow_scripts.studies.cwola.transfer --dataset {input.dataset} --images {params.images}"
        " --settings {params.settings} --threads {threads} --model {output.model} --history {output.history} > {log} 2>&1"


rule meta_train:
    input:
        pretrained=lambda wildcards: pretrained_model_path(META_PRETRAINING[wildcards.meta], wildcards.benchmark, wildcards.npix),
        background_windows=window_events(CWOLA["background"]),
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        test=rules.cwola_test_set.output,
        signal_windows=lambda wildcards: [window_events(sample) for sample in pretraining_signals(wildcards)],
        signal_images=lambda wildcards: [image_file(sample, wildcards.npix) for sample in pretraining_signals(wildcards)],
    output:
        model="results/models/{meta}/{benchmark}/{npix}px/meta_trained.pt",
        history=f"{CWOLA_METRICS}/{{meta}}_training/{{benchmark}}/{{npix}}px_history.csv",
    log:
        "logs/meta_train/{meta}/{benchmark}/{npix}px.log",
    benchmark:
        "benchmarks/meta_train/{meta}/{benchmark}/{npix}px.tsv"
    wildcard_constraints:
        meta="meta|meta_large",
    conda:
        "../envs/ml.yaml"
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=cwola_training_mem_mb,
        runtime=cwola_training_runtime,
    params:
        signals=lambda wildcards: json_argument(
            {
                sample: {"windows": window_events(sample), "images": image_file(sample, wildcards.npix)}
                for sample in pretraining_signals(wildcards)
            }
        ),
        settings=lambda wildcards: json_argument(
            {
                "meta": CWOLA["meta"],
                "held_out": wildcards.benchmark,
                "unit_intensity": CWOLA["unit_intensity_images"],
                "seed": config["seed"],
                "device": config["training"]["device"],
            }
        ),
    shell:
        "python -m workflow_scripts.studies.cwola.meta --pretrained {input.pretrained}"
        " --background-windows {input.background_windows} --background-images {input.background_images}"
        " --test-set {input.test} --signals {params.signals} --settings {params.settings} --threads {threads}"
        " --model {output.model} --history {output.history} > {log} 2>&1"


rule train_cwola:
    input:
        datasets=lambda wildcards: cwola_experiment_files(wildcards, "dataset"),
        test=rules.cwola_test_set.output,
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        signal_images=lambda wildcards: image_file(wildcards.benchmark, wildcards.npix),
        pretrained=pretrained_model,
    output:
        models=cwola_experiment_outputs("model"),
        metrics=cwola_experiment_outputs("metrics"),
        rocs=cwola_experiment_outputs("roc"),
        histories=cwola_experiment_outputs("history"),
    log:
        "logs/train_cwola/{method}/{benchmark}/{npix}px.log",
    benchmark:
        "benchmarks/train_cwola/{method}/{benchmark}/{npix}px.tsv"
    wildcard_constraints:
        method=METHODS,
    conda:
        "../envs/ml.yaml"
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=cwola_training_mem_mb,
        runtime=cwola_job_runtime,
    params:
        settings=cwola_training_settings,
        experiments=lambda wildcards: json_argument(cwola_experiments(wildcards)),
        pretrained=lambda wildcards, input: f"--pretrained {input.pretrained}" if input.pretrained else "",
    shell:
        "python -m workflow_scripts.studies.cwola.training --test-set {input.test}"
        " --background-images {input.background_images} --signal-images {input.signal_images} {params.pretrained}"
        " --settings {params.settings} --experiments {params.experiments} --threads {threads} > {log} 2>&1"


rule cwola_supervised_set:
    input:
        background=window_events(CWOLA["background"]),
        signal=lambda wildcards: window_events(wildcards.benchmark),
        test=rules.cwola_test_set.output,
    output:
        SUPERVISED_FILES["dataset"],
    log:
        "logs/cwola_supervised_set/{benchmark}/trial{trial}.log",
    conda:
        "../envs/ml.yaml"
    params:
        background=CWOLA["background"],
        n_per_class=lambda wildcards: CWOLA[SUPERVISED]["n_per_class"],
        background_sr_events=CWOLA["background_sr_events"],
        injections=" ".join(injection_label(injection) for injection in CWOLA["injections"]),
        validation_fraction=CWOLA["validation_fraction"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.studies.cwola.datasets supervised --background-windows {input.background}"
        " --signal-windows {input.signal} --test-set {input.test} --background {params.background}"
        " --signal {wildcards.benchmark} --n-per-class {params.n_per_class}"
        " --background-sr-events {params.background_sr_events} --injections {params.injections} --trial {wildcards.trial}"
        " --validation-fraction {params.validation_fraction} --seed {params.seed} --output {output} > {log} 2>&1"


use rule train_cwola as train_supervised with:
    input:
        datasets=lambda wildcards: cwola_experiment_files(wildcards, "dataset", SUPERVISED),
        test=rules.cwola_test_set.output,
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
        signal_images=lambda wildcards: image_file(wildcards.benchmark, wildcards.npix),
    output:
        models=cwola_experiment_outputs("model", SUPERVISED),
        metrics=cwola_experiment_outputs("metrics", SUPERVISED),
        rocs=cwola_experiment_outputs("roc", SUPERVISED),
        histories=cwola_experiment_outputs("history", SUPERVISED),
    log:
        "logs/train_supervised/{benchmark}/{npix}px.log",
    benchmark:
        "benchmarks/train_supervised/{benchmark}/{npix}px.tsv"
    params:
        settings=lambda wildcards: cwola_training_settings(wildcards, SUPERVISED),
        experiments=lambda wildcards: json_argument(cwola_experiments(wildcards, SUPERVISED)),
        pretrained="",


rule cwola_summary:
    input:
        lambda wildcards: cwola_training_outputs(wildcards.method),
    output:
        f"{CWOLA_METRICS}/{{method}}_summary.csv",
    log:
        "logs/cwola_summary/{method}.log",
    wildcard_constraints:
        method=SUMMARIZED_METHODS,
    conda:
        "../envs/ml.yaml"
    shell:
        "python -m workflow_scripts.core.tables concat {input} --output {output} > {log} 2>&1"


use rule cwola_summary as cwola_roc_summary with:
    input:
        lambda wildcards: cwola_training_outputs(wildcards.method, "roc"),
    output:
        f"{CWOLA_METRICS}/{{method}}_roc.csv",
    log:
        "logs/cwola_roc_summary/{method}.log",


rule cwola_sculpting:
    input:
        datasets=lambda wildcards: cwola_experiment_files(wildcards, "dataset"),
        models=lambda wildcards: cwola_experiment_files(wildcards, "model"),
        background_windows=window_events(CWOLA["background"]),
        background_images=lambda wildcards: image_file(CWOLA["background"], wildcards.npix),
    output:
        efficiencies=f"{CWOLA_METRICS}/{{method}}_sculpting/{{benchmark}}/{{npix}}px.csv",
        histograms=f"{CWOLA_METRICS}/{{method}}_sculpting/{{benchmark}}/{{npix}}px_mjj.csv",
    log:
        "logs/cwola_sculpting/{method}/{benchmark}/{npix}px.log",
    wildcard_constraints:
        method=METHODS,
    conda:
        "../envs/ml.yaml"
    threads: CWOLA["threads"]
    resources:
        gpu=training_gpus,
        mem_mb=cwola_training_mem_mb,
    params:
        experiments=lambda wildcards: json_argument(cwola_experiments(wildcards)),
        settings=lambda wildcards: json_argument(
            {
                "method": wildcards.method,
                "background_efficiencies": CWOLA["background_efficiencies"],
                "mjj_bins_gev": sculpting_bins(),
                "unit_intensity": CWOLA["unit_intensity_images"],
                "device": config["training"]["device"],
            }
        ),
    shell:
        "python -m workflow_scripts.studies.cwola.sculpting --background-windows {input.background_windows}"
        " --background-images {input.background_images} --experiments {params.experiments} --settings {params.settings}"
        " --threads {threads} --efficiencies {output.efficiencies} --histograms {output.histograms} > {log} 2>&1"


rule cwola_learning_thresholds:
    input:
        summaries=[f"{CWOLA_METRICS}/{method}_summary.csv" for method in configured_methods()],
    output:
        f"{CWOLA_METRICS}/learning_thresholds.csv",
    log:
        "logs/cwola_learning_thresholds/thresholds.log",
    conda:
        "../envs/ml.yaml"
    params:
        target=5.0,
    shell:
        "python -m workflow_scripts.studies.cwola.performance {input.summaries} --target {params.target}"
        " --output {output} > {log} 2>&1"


rule cwola_fig01_mjj:
    input:
        background=lambda wildcards: sample_chunks("events", require_sample("qcd_dijet", "fig01")),
        signal=lambda wildcards: sample_chunks("events", require_sample("hv_id_lambda10", "fig01")),
    output:
        pdf=report("results/figures/cwola/fig01_mjj.pdf", category="CWoLa", caption="../report/cwola_fig01_mjj.rst"),
        png="results/figures/cwola/fig01_mjj.png",
    log:
        "logs/cwola_fig01_mjj/fig01.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"regions": CWOLA_REGIONS.to_dict(), "signal_label": "ID, $\\Lambda_D$ = 10 GeV"}),
    shell:
        "python -m workflow_scripts.figures cwola-fig01 --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"


rule cwola_fig02_panels:
    input:
        signal_events=sample_chunks("events", CWOLA["benchmarks"][0]),
        signal_windows=window_events(CWOLA["benchmarks"][0]),
        signal_images=image_file(CWOLA["benchmarks"][0], max(CWOLA["resolutions"])),
        background_windows=window_events(CWOLA["background"]),
        background_images=image_file(CWOLA["background"], max(CWOLA["resolutions"])),
    output:
        f"{CWOLA_METRICS}/fig02_panels.npz",
    log:
        "logs/cwola_fig02_panels/fig02.log",
    conda:
        "../envs/ml.yaml"
    params:
        npix=max(CWOLA["resolutions"]),
    shell:
        "python -m workflow_scripts.analysis.images panels --signal-events {input.signal_events}"
        " --signal-windows {input.signal_windows} --signal-images {input.signal_images}"
        " --background-windows {input.background_windows} --background-images {input.background_images}"
        " --npix {params.npix} --output {output} > {log} 2>&1"


rule cwola_fig02_images:
    input:
        panels=rules.cwola_fig02_panels.output,
    output:
        pdf=report("results/figures/cwola/fig02_images.pdf", category="CWoLa", caption="../report/cwola_fig02_images.rst"),
        png="results/figures/cwola/fig02_images.png",
    log:
        "logs/cwola_fig02_images/fig02.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"signal_label": sample_label(CWOLA["benchmarks"][0])}),
    shell:
        "python -m workflow_scripts.figures cwola-fig02 --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"


# Figs. 3-6 are one plot: significance after the cut against injected S/sqrt(B), with a second method dashed.
rule cwola_fig03_significance:
    input:
        summary=f"{CWOLA_METRICS}/cwola_summary.csv",
        baseline=supervised_baseline(),
    output:
        pdf=report(
            "results/figures/cwola/fig03_significance.pdf", category="CWoLa", caption="../report/cwola_fig03_significance.rst"
        ),
        png="results/figures/cwola/fig03_significance.png",
    log:
        "logs/cwola_fig03_significance/fig03.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"benchmarks": CWOLA["benchmarks"][:2]}),
    shell:
        "python -m workflow_scripts.figures cwola-significance --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"


use rule cwola_fig03_significance as cwola_fig04_transfer with:
    input:
        summary=f"{CWOLA_METRICS}/transfer_summary.csv",
        compare=f"{CWOLA_METRICS}/cwola_summary.csv",
        baseline=supervised_baseline(),
    output:
        pdf=report("results/figures/cwola/fig04_transfer.pdf", category="CWoLa", caption="../report/cwola_fig04_transfer.rst"),
        png="results/figures/cwola/fig04_transfer.png",
    log:
        "logs/cwola_fig04_transfer/fig04.log",
    params:
        inputs=named_inputs,
        settings=json_argument({"benchmarks": CWOLA["benchmarks"][:2], "labels": ["transfer", "CWoLa"]}),


use rule cwola_fig03_significance as cwola_fig05_meta_transfer with:
    input:
        summary=f"{CWOLA_METRICS}/meta_summary.csv",
        compare=f"{CWOLA_METRICS}/transfer_summary.csv",
    output:
        pdf=report(
            "results/figures/cwola/fig05_meta_transfer.pdf", category="CWoLa", caption="../report/cwola_fig05_meta_transfer.rst"
        ),
        png="results/figures/cwola/fig05_meta_transfer.png",
    log:
        "logs/cwola_fig05_meta_transfer/fig05.log",
    params:
        inputs=named_inputs,
        settings=json_argument({"benchmarks": CWOLA["benchmarks"][:2], "labels": ["meta-transfer", "transfer"]}),


use rule cwola_fig05_meta_transfer as cwola_fig06_large_kernels with:
    input:
        summary=f"{CWOLA_METRICS}/meta_large_summary.csv",
        compare=f"{CWOLA_METRICS}/transfer_large_summary.csv",
    output:
        pdf=report(
            "results/figures/cwola/fig06_large_kernels.pdf", category="CWoLa", caption="../report/cwola_fig06_large_kernels.rst"
        ),
        png="results/figures/cwola/fig06_large_kernels.png",
    log:
        "logs/cwola_fig06_large_kernels/fig06.log",


rule cwola_sic:
    input:
        rocs=[f"{CWOLA_METRICS}/{method}_roc.csv" for method in configured_methods()],
    output:
        pdf=report("results/figures/cwola/sic.pdf", category="CWoLa", caption="../report/cwola_sic.rst"),
        png="results/figures/cwola/sic.png",
    log:
        "logs/cwola_sic/sic.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"benchmark": CWOLA["benchmarks"][0], "resolution": min(CWOLA["resolutions"])}),
    shell:
        "python -m workflow_scripts.figures cwola-sic --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"


rule cwola_sculpting_figure:
    input:
        efficiencies=sculpting_outputs("efficiencies"),
        histograms=sculpting_outputs("histograms"),
    output:
        pdf=report("results/figures/cwola/sculpting.pdf", category="CWoLa", caption="../report/cwola_sculpting.rst"),
        png="results/figures/cwola/sculpting.png",
    log:
        "logs/cwola_sculpting_figure/sculpting.log",
    conda:
        "../envs/plotting.yaml"
    params:
        inputs=named_inputs,
        settings=json_argument({"regions": CWOLA_REGIONS.to_dict(), "injection": min(CWOLA["injections"])}),
    shell:
        "python -m workflow_scripts.figures cwola-sculpting --inputs {params.inputs} --settings {params.settings}"
        " --output {output.pdf} > {log} 2>&1"
