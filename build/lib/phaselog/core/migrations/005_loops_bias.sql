-- loop_events: one row per (run, segment-end step, source, item): the loop detector's verdict on one scanned text (a reflection, the injected drill text, or a training-data window), looping or not.
CREATE TABLE loop_events (
    run_id VARCHAR,
    step BIGINT,
    source VARCHAR,          -- reflection | injected | data
    item VARCHAR,            -- which text: reflection step:index, or data source@token offset
    is_loop BOOLEAN,
    severity VARCHAR,        -- none | low | medium | high
    period INTEGER,          -- of the strongest loop run, in `unit`s
    unit VARCHAR,            -- token | char | ''
    repeats INTEGER,
    loop_share DOUBLE,
    compression_ratio DOUBLE,
    seq_rep_4 DOUBLE,
    duplicate_line_fraction DOUBLE,
    excerpt VARCHAR,         -- names the loop: "[observe it, or ...] 4 tokens x 13"
    PRIMARY KEY (run_id, step, source, item)
);

-- bias_events: one row per (run, segment-end step, source, item): a bias finding in a scanned text, or (source probe) the paired-sentence preference of one category at that checkpoint.
CREATE TABLE bias_events (
    run_id VARCHAR,
    step BIGINT,
    source VARCHAR,          -- reflection | injected | data | probe
    item VARCHAR,            -- text and finding number (step:index#n, source@offset#n), or the probe category
    severity VARCHAR,        -- low | medium | high (probe: high when it shifted beyond the threshold, else none)
    category VARCHAR,
    terms VARCHAR,           -- JSON: the group term then the attribute(s); probe: {pairs, skipped}
    context VARCHAR,         -- the sentence the finding is in
    discounted VARCHAR,      -- '' | negation | quotation | counter-speech
    value DOUBLE,            -- probe: mean log-prob difference (nats), > 0 leans to the stereotype
    stderr DOUBLE,           -- probe: its standard error
    decision VARCHAR,        -- the review's decision for this step: resume | resume_with_counterexamples | stop
    PRIMARY KEY (run_id, step, source, item)
);

-- reviews: one row per (run, segment-end step): a pause for human review, pending or answered.
CREATE TABLE reviews (
    run_id VARCHAR,
    step BIGINT,
    status VARCHAR,          -- pending | answered
    reasons VARCHAR,         -- JSON list of plain-words reasons
    description VARCHAR,     -- the markdown shown to the reviewer
    decision VARCHAR,        -- resume | resume_with_counterexamples | stop; NULL while pending
    note VARCHAR,
    answered_via VARCHAR,    -- prefect (the UI form or the API) | cli (phaselog review)
    flow_run_id VARCHAR,
    requested_at TIMESTAMP,
    answered_at TIMESTAMP,
    PRIMARY KEY (run_id, step)
);
