-- segment_analysis: one row per (run, segment end step) whose analysis finished: evaluation, self-play,
-- understanding, loops and bias all ran on the segment's end checkpoint and wrote their rows. `phaselog resume`
-- skips the analysis of a segment with a row (it had cost a minute a segment) and gives the review gate the stored
-- loops-and-bias summary instead. A store that lost its rows (deleted, refilled) has no row: the analysis reruns.
CREATE TABLE segment_analysis (
    run_id VARCHAR,
    end_step BIGINT,
    "index" INTEGER,             -- the segment's index in the run, as in segments
    start_step BIGINT,
    seconds DOUBLE,              -- wall-clock of the four analyses (a run's ETA adds it per segment left)
    flow_run_id VARCHAR,         -- the Prefect flow run that analysed it
    finished_at TIMESTAMP,
    loops_bias VARCHAR,          -- JSON: the loops-and-bias summary the review gate reads (step, reasons, ...)
    PRIMARY KEY (run_id, end_step)
);
