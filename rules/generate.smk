rule render_card:
    output:
        "results/cards/{sample}.cmnd",
    params:
        settings=lambda wildcards: shlex.quote(json.dumps(SAMPLES[wildcards.sample])),
        sqrt_s_gev=config["generation"]["sqrt_s_gev"],
    conda:
        "../envs/generation.yaml"
    log:
        "logs/render_card/{sample}.log",
    shell:
        "python -m workflow_scripts.cards --sample {wildcards.sample} --settings {params.settings}"
        " --sqrt-s-gev {params.sqrt_s_gev} --output {output} > {log} 2>&1"


rule generate_particles:
    input:
        card=rules.render_card.output,
    output:
        "results/particles/{sample}/chunk{chunk}.parquet",
    params:
        events=config["generation"]["events_per_chunk"],
        batch_size=config["generation"]["batch_size"],
        seed=config["seed"],
    threads: 1
    conda:
        "../envs/generation.yaml"
    log:
        "logs/generate_particles/{sample}/chunk{chunk}.log",
    benchmark:
        "benchmarks/generate_particles/{sample}/chunk{chunk}.tsv"
    shell:
        "python -m workflow_scripts.generation --card {input.card} --output {output} --sample {wildcards.sample}"
        " --chunk {wildcards.chunk} --events {params.events} --batch-size {params.batch_size}"
        " --seed {params.seed} > {log} 2>&1"
