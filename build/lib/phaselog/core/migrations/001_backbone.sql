-- runs: one row per run id: its config, where its files are, the machine's peak FLOP/s used for MFU.
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    config_json VARCHAR,
    config_hash VARCHAR,
    run_dir VARCHAR,
    start_step BIGINT,
    end_step BIGINT,
    device VARCHAR,
    peak_flops DOUBLE,
    status VARCHAR,          -- running | completed | failed | awaiting_review
    created_at TIMESTAMP,
    updated_at TIMESTAMP
);

-- segments: one row per (run, segment index): its step range, status and end checkpoint.
CREATE TABLE segments (
    run_id VARCHAR,
    "index" INTEGER,
    start_step BIGINT,
    end_step BIGINT,
    status VARCHAR,          -- completed (the only state stored: a segment is done when its checkpoint is)
    checkpoint VARCHAR,
    resumed_from BIGINT,
    trained_steps BIGINT,
    seconds DOUBLE,
    flow_run_id VARCHAR,
    finished_at TIMESTAMP,
    PRIMARY KEY (run_id, "index")
);

-- metrics: one row per (run, step), ever: the step's training loss, lr, gradient norm and speed.
CREATE TABLE metrics (
    run_id VARCHAR,
    step BIGINT,
    loss DOUBLE,
    lr DOUBLE,
    grad_norm DOUBLE,
    tokens_per_sec DOUBLE,
    mfu DOUBLE,
    step_time_ms DOUBLE,
    PRIMARY KEY (run_id, step)
);

-- evals: one row per (run, step, name): an evaluation figure such as val_bpb or val_bpb/<source>.
CREATE TABLE evals (
    run_id VARCHAR,
    step BIGINT,
    name VARCHAR,
    value DOUBLE,
    PRIMARY KEY (run_id, step, name)
);

-- documents: one row per (run, doc_id): every document read, kept or dropped, and why.
CREATE TABLE documents (
    run_id VARCHAR,
    source VARCHAR,
    doc_id VARCHAR,
    path VARCHAR,
    chars BIGINT,
    bytes BIGINT,
    sha1 VARCHAR,
    kept BOOLEAN,
    drop_reason VARCHAR,
    split VARCHAR,           -- train | val | '' when dropped
    PRIMARY KEY (run_id, doc_id)
);

-- data_mix: one row per (run, segment start step, source): training tokens actually drawn from that source.
CREATE TABLE data_mix (
    run_id VARCHAR,
    segment_start BIGINT,
    segment_end BIGINT,
    source VARCHAR,
    tokens BIGINT,
    share DOUBLE,
    PRIMARY KEY (run_id, segment_start, source)
);
