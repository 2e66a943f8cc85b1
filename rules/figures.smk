rule cohen2018_toy_figure:
    input:
        toy_job_outputs("metrics"),
        toy_job_outputs("roc"),
        toy_job_outputs("outputs_hist"),
        rules.toy_bayes_optimal.output,
    output:
        pdf=report("results/figures/cohen2018/{figure}.pdf", category="Cohen 2018 toy model", caption="../report/cohen2018_toy_figures.rst"),
        png="results/figures/cohen2018/{figure}.png",
    params:
        name=lambda wildcards: COHEN2018_TOY_FIGURES[wildcards.figure],
        jobs=list(TOY_JOBS),
    wildcard_constraints:
        figure="|".join(COHEN2018_TOY_FIGURES),
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cohen2018_toy_figure/{figure}.log",
    shell:
        f"python -m workflow_scripts.figures {{params.name}} --metrics-dir {TOY_METRICS}"
        " --jobs {params.jobs} --output {output.pdf} > {log} 2>&1"


rule cwola_fig01_mjj:
    input:
        background=lambda wildcards: sample_chunks("events", require_sample("qcd_dijet", "fig01")),
        signal=lambda wildcards: sample_chunks("events", require_sample("hv_id_lambda10", "fig01")),
    output:
        pdf=report("results/figures/cwola/fig01_mjj.pdf", category="CWoLa", caption="../report/cwola_fig01_mjj.rst"),
        png="results/figures/cwola/fig01_mjj.png",
    params:
        signal_region=config["cwola"]["signal_region_gev"],
        sidebands=[edge for band in config["cwola"]["sidebands_gev"] for edge in band],
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cwola_fig01_mjj/fig01.log",
    shell:
        "python -m workflow_scripts.figures cwola-fig01 --background {input.background} --signal {input.signal}"
        " --signal-label 'ID, $\\Lambda_D$ = 10 GeV' --signal-region {params.signal_region}"
        " --sidebands {params.sidebands} --output {output.pdf} > {log} 2>&1"


rule cwola_fig02_images:
    input:
        signal_events=sample_chunks("events", CWOLA["benchmarks"][0]),
        signal_windows=window_events(CWOLA["benchmarks"][0]),
        signal_images=image_file(CWOLA["benchmarks"][0], max(CWOLA["resolutions"])),
        background_windows=window_events(CWOLA["background"]),
        background_images=image_file(CWOLA["background"], max(CWOLA["resolutions"])),
    output:
        pdf=report("results/figures/cwola/fig02_images.pdf", category="CWoLa", caption="../report/cwola_fig02_images.rst"),
        png="results/figures/cwola/fig02_images.png",
    params:
        npix=max(CWOLA["resolutions"]),
        label=shlex.quote(sample_label(CWOLA["benchmarks"][0])),
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cwola_fig02_images/fig02.log",
    shell:
        "python -m workflow_scripts.figures cwola-fig02 --signal-events {input.signal_events}"
        " --signal-windows {input.signal_windows} --signal-images {input.signal_images}"
        " --background-windows {input.background_windows} --background-images {input.background_images}"
        " --npix {params.npix} --signal-label {params.label} --output {output.pdf} > {log} 2>&1"


rule cwola_fig03_significance:
    input:
        f"{CWOLA_METRICS}/cwola_summary.csv",
    output:
        pdf=report("results/figures/cwola/fig03_significance.pdf", category="CWoLa", caption="../report/cwola_fig03_significance.rst"),
        png="results/figures/cwola/fig03_significance.png",
    params:
        benchmarks=CWOLA["benchmarks"][:2],
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cwola_fig03_significance/fig03.log",
    shell:
        "python -m workflow_scripts.figures cwola-fig03 --summary {input} --benchmarks {params.benchmarks}"
        " --output {output.pdf} > {log} 2>&1"


rule cwola_fig04_transfer:
    input:
        transfer=f"{CWOLA_METRICS}/transfer_summary.csv",
        cwola=f"{CWOLA_METRICS}/cwola_summary.csv",
    output:
        pdf=report("results/figures/cwola/fig04_transfer.pdf", category="CWoLa", caption="../report/cwola_fig04_transfer.rst"),
        png="results/figures/cwola/fig04_transfer.png",
    params:
        benchmarks=CWOLA["benchmarks"][:2],
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cwola_fig04_transfer/fig04.log",
    shell:
        "python -m workflow_scripts.figures cwola-fig03 --summary {input.transfer} --compare {input.cwola}"
        " --labels transfer CWoLa --benchmarks {params.benchmarks} --output {output.pdf} > {log} 2>&1"


rule cwola_fig05_meta_transfer:
    input:
        meta=f"{CWOLA_METRICS}/meta_summary.csv",
        transfer=f"{CWOLA_METRICS}/transfer_summary.csv",
    output:
        pdf=report("results/figures/cwola/fig05_meta_transfer.pdf", category="CWoLa", caption="../report/cwola_fig05_meta_transfer.rst"),
        png="results/figures/cwola/fig05_meta_transfer.png",
    params:
        benchmarks=CWOLA["benchmarks"][:2],
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cwola_fig05_meta_transfer/fig05.log",
    shell:
        "python -m workflow_scripts.figures cwola-fig03 --summary {input.meta} --compare {input.transfer}"
        " --labels meta-transfer transfer --benchmarks {params.benchmarks} --output {output.pdf} > {log} 2>&1"


rule cwola_fig06_large_kernels:
    input:
        meta=f"{CWOLA_METRICS}/meta_large_summary.csv",
        transfer=f"{CWOLA_METRICS}/transfer_large_summary.csv",
    output:
        pdf=report("results/figures/cwola/fig06_large_kernels.pdf", category="CWoLa", caption="../report/cwola_fig06_large_kernels.rst"),
        png="results/figures/cwola/fig06_large_kernels.png",
    params:
        benchmarks=CWOLA["benchmarks"][:2],
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cwola_fig06_large_kernels/fig06.log",
    shell:
        "python -m workflow_scripts.figures cwola-fig03 --summary {input.meta} --compare {input.transfer}"
        " --labels meta-transfer transfer --benchmarks {params.benchmarks} --output {output.pdf} > {log} 2>&1"


rule cohen2018_fig10_mismodelling:
    input:
        rules.train_lhc.output.roc,
    output:
        pdf=report("results/figures/cohen2018/fig10_mismodelling.pdf", category="Cohen 2018 LHC", caption="../report/cohen2018_fig10_mismodelling.rst"),
        png="results/figures/cohen2018/fig10_mismodelling.png",
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cohen2018_fig10_mismodelling/fig10.log",
    shell:
        "python -m workflow_scripts.figures cohen2018-fig10 --roc {input} --output {output.pdf} > {log} 2>&1"


rule cohen2018_fig09_high_met:
    input:
        events=rules.lhc_combination.output.events,
        working_points=rules.lhc_combination.output.working_points,
    output:
        pdf=report("results/figures/cohen2018/fig09_high_met.pdf", category="Cohen 2018 LHC", caption="../report/cohen2018_fig09_high_met.rst"),
        png="results/figures/cohen2018/fig09_high_met.png",
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cohen2018_fig09_high_met/fig09.log",
    shell:
        "python -m workflow_scripts.figures cohen2018-fig09 --events {input.events} --working-points {input.working_points}"
        " --output {output.pdf} > {log} 2>&1"


rule cohen2018_fig11_combination:
    input:
        events=rules.lhc_combination.output.events,
        working_points=rules.lhc_combination.output.working_points,
        grid=rules.lhc_combination.output.grid,
    output:
        pdf=report("results/figures/cohen2018/fig11_combination.pdf", category="Cohen 2018 LHC", caption="../report/cohen2018_fig11_combination.rst"),
        png="results/figures/cohen2018/fig11_combination.png",
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/cohen2018_fig11_combination/fig11.log",
    shell:
        "python -m workflow_scripts.figures cohen2018-fig11 --events {input.events} --working-points {input.working_points}"
        " --grid {input.grid} --output {output.pdf} > {log} 2>&1"
