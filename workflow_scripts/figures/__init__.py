"""Paper figures, drawn from tidy metrics files: style, one module per study, and `python -m workflow_scripts.figures`."""
