"""phaselog: train a small GPT in phases, watch it learn, write it all down in one DuckDB file."""
