"""`phaselog bench NAME`: one file per benchmark, each measuring one thing on this machine and reporting the median
and spread of several repeats, with a `summary` line and how to rerun it (docs/benchmarks.md). `train.py` holds
what several share: the shapes, `spread`, the timed step; `reference.py` is the nanoGPT peer."""
