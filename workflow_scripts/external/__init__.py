"""The external generator stack (MadGraph5_aMC and Delphes): installing it, MadGraph cards and runs, Delphes cards.

Standard library only (plus workflow_scripts.core.seeding, itself standard library only): these modules run
inside the generator image and on machines without the pipeline's Python dependencies."""
