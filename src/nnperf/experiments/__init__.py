"""Studies: a YAML spec expanded into cases, run into a results store, merged and exported."""
