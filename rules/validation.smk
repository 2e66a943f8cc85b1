rule check_generator_cuts:
    input:
        lambda wildcards: sample_chunks("events", require_sample(config["cwola"]["generator_cut_check"]["loose_sample"], "the generator-cut check")),
    output:
        csv="results/metrics/cwola/generator_cut_check.csv",
        pdf=report("results/figures/cwola/check_generator_cuts.pdf", category="Validation", caption="../report/check_generator_cuts.rst"),
        png="results/figures/cwola/check_generator_cuts.png",
    params:
        windows=lambda wildcards: shlex.quote(json.dumps(cwola_windows())),
        tight=lambda wildcards: SAMPLES[require_sample(config["cwola"]["generator_cut_check"]["sample"], "the generator-cut check")],
    conda:
        "../envs/plotting.yaml"
    log:
        "logs/check_generator_cuts/check.log",
    shell:
        "python -m workflow_scripts.validation --loose-events {input} --windows {params.windows}"
        " --pt-hat-min-gev {params.tight[pt_hat_min_gev]} --m-hat-min-gev {params.tight[m_hat_min_gev]}"
        " --output {output.csv} --figure {output.pdf} > {log} 2>&1"
