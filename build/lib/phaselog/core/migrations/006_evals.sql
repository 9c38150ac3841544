-- eval_skips: one row per (run, step, task): a CORE-style task that could not be evaluated at that checkpoint
-- (out of memory even at batch size 1, or the evaluation process died), and why; training went on regardless.
CREATE TABLE eval_skips (
    run_id VARCHAR,
    step BIGINT,
    task VARCHAR,            -- the bundle's task label, or '*' when the whole evaluation failed
    reason VARCHAR,
    recorded_at TIMESTAMP,
    PRIMARY KEY (run_id, step, task)
);
