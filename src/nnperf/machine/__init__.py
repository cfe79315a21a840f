"""Machine characterization: system probes, nominal (spec-sheet) peaks and measured roofline ceilings."""
