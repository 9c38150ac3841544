-- uptake: one row per (run, reflection step, source): the calibrated corpus-uptake statement and every number it
-- rests on (understanding/uptake.py; docs/understanding.md re-derives `status` and the bands in SQL).
CREATE TABLE uptake (
    run_id VARCHAR,
    step BIGINT,
    source VARCHAR,
    joined_step BIGINT,          -- first batch position the source trains at; NULL: not in this run's mix
    reflections INTEGER,         -- reflections at this step
    score DOUBLE,                -- their mean uptake score (mean log p_source - log p_rest per token)
    score_se DOUBLE,             -- its standard error, sd / sqrt(reflections)
    before_reflections INTEGER,  -- reflections at other steps <= joined_step (the model had seen none of it)
    before_low DOUBLE,           -- the band their mean gives for a mean of `reflections` texts, NULL if < 2
    before_high DOUBLE,
    window_tokens INTEGER,       -- held-out window length: the mean reflection length at this step
    source_windows INTEGER,      -- held-out validation windows of this source
    other_windows INTEGER,       -- held-out validation windows of the other sources
    source_window_score DOUBLE,  -- mean score of this source's own held-out windows (what surfacing looks like)
    heldout_low DOUBLE,          -- the band the other sources' windows give for a mean of `reflections` texts
    heldout_high DOUBLE,
    auc DOUBLE,                  -- separation: P(an own window scores above another source's window)
    band_low DOUBLE,             -- the null band: the union of the before-join and held-out bands
    band_high DOUBLE,
    status VARCHAR,              -- not_joined | undecidable (auc < 0.8) | surfaced (score > band_high) | not_yet
    PRIMARY KEY (run_id, step, source)
);
