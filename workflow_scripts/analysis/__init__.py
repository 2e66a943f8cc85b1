"""From analysis-ready events to analysis inputs: M_jj regions, jet images, cross-section weights."""
