"""One subpackage per paper study: its datasets, its trainings and its command-line entry points."""
