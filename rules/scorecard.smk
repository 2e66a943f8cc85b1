# The reproduction scorecard: every claim of papers/claims.yaml against this run (workflow_scripts/studies/scorecard.py):
#   scorecard:        both papers -> results/metrics/scorecard.{csv,md} (default target; the report opens with it)
#   scorecard_paper:  one paper's claims -> results/metrics/scorecard/{paper}.{csv,md} (targets cohen2018, cwola)


rule scorecard:
    input:
        claims=CLAIMS_FILE,
        files=scorecard_inputs(SCORECARD_PAPERS),
    output:
        table=report("results/metrics/scorecard.csv", category="Scorecard", caption="../report/scorecard.rst"),
        markdown="results/metrics/scorecard.md",
    log:
        "logs/scorecard/all.log",
    conda:
        "../envs/ml.yaml"
    params:
        papers=" ".join(SCORECARD_PAPERS),
        studies=" ".join(SCORECARD_STUDIES),
    shell:
        "python -m workflow_scripts.studies.scorecard --claims {input.claims} --papers {params.papers}"
        " --studies {params.studies} --output {output.table} --markdown {output.markdown} > {log} 2>&1"


use rule scorecard as scorecard_paper with:
    input:
        claims=CLAIMS_FILE,
        files=lambda wildcards: scorecard_inputs([wildcards.paper]),
    output:
        table=report("results/metrics/scorecard/{paper}.csv", category="Scorecard", caption="../report/scorecard.rst"),
        markdown="results/metrics/scorecard/{paper}.md",
    log:
        "logs/scorecard/{paper}.log",
    wildcard_constraints:
        paper="|".join(SCORECARD_PAPERS),
    params:
        papers=lambda wildcards: wildcards.paper,
        studies=" ".join(SCORECARD_STUDIES),
