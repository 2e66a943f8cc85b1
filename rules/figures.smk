rule cohen2018_toy_figure:
    input:
        toy_job_outputs("metrics"),
        toy_job_outputs("roc"),
        toy_job_outputs("outputs_hist"),
        rules.toy_bayes_optimal.output,
    output:
        pdf=report("results/figures/cohen2018/{figure}.pdf", category="Cohen 2018 toy model", caption="../report/cohen2018_{figure}.rst"),
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
