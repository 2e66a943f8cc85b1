"""Library behind the Snakemake rules: importable and testable without Snakemake."""
