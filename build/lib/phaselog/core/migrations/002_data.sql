-- documents gains what data prep measures per document: garbled characters left, and tokens written.
ALTER TABLE documents ADD COLUMN bad_chars BIGINT;
ALTER TABLE documents ADD COLUMN tokens BIGINT;

-- data_quality: one row per (run, suite, expectation): a Great Expectations result after data prep.
CREATE TABLE data_quality (
    run_id VARCHAR,
    suite VARCHAR,           -- documents | shards
    expectation VARCHAR,     -- readable label, e.g. expect_column_values_to_be_between(bad_share) [general]
    success BOOLEAN,
    checked_rows BIGINT,     -- rows GX saw (a stride sample beyond data_quality.sample_rows)
    total_rows BIGINT,
    unexpected_count BIGINT,
    observed VARCHAR,        -- observed value or unexpected examples (JSON)
    kwargs VARCHAR,          -- the expectation's arguments (JSON)
    checked_at TIMESTAMP,
    PRIMARY KEY (run_id, suite, expectation)
);

-- tokenizer_training: one row per (run, source): the characters of that source the tokenizer was trained on.
CREATE TABLE tokenizer_training (
    run_id VARCHAR,
    source VARCHAR,
    sample_chars BIGINT,
    sample_documents BIGINT,
    vocab_size BIGINT,
    pattern VARCHAR,
    sample_sha1 VARCHAR,     -- of the whole sample, equal across the run's rows
    PRIMARY KEY (run_id, source)
);
