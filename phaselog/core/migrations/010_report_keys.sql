-- Plain ADD COLUMN, UPDATE and CREATE VIEW only (no new key or index), so the same file applies to a DuckLake
-- catalog, which has neither.

-- data_mix.token_share: the source's share of the segment's tokens, under a name DuckDB takes anywhere (SHARE is a
-- keyword: `round(share, 3) share` is a syntax error). `share` keeps the same figure so queries written before 010
-- still run; new queries read token_share.
ALTER TABLE data_mix ADD COLUMN token_share DOUBLE;
UPDATE data_mix SET token_share = share;

-- runs.started_at: when the run's first training step began (its first segment's finish time less its seconds);
-- runs.ended_at: when the run last stopped (completed, failed, stopped, awaiting review), NULL while it runs.
-- Training time is sum(segments.seconds); these two are wall-clock time and include evaluations and pauses.
ALTER TABLE runs ADD COLUMN started_at TIMESTAMP;
ALTER TABLE runs ADD COLUMN ended_at TIMESTAMP;
UPDATE runs SET started_at = (SELECT min(s.finished_at - to_microseconds(CAST(s.seconds * 1e6 AS BIGINT)))
                              FROM segments s WHERE s.run_id = runs.run_id),
                ended_at = CASE WHEN status <> 'running' THEN updated_at END;

-- loop_events.text_key, bias_events.text_key: which text the row scanned, as scanned_texts.text_key: a reflection
-- as step:prompt_version:framing:sample_index, a training-data window as source@token offset, the injected drill
-- text as step:0; NULL for a probe row (it scans paired sentences, not a text).
ALTER TABLE loop_events ADD COLUMN text_key VARCHAR;
ALTER TABLE bias_events ADD COLUMN text_key VARCHAR;
UPDATE loop_events SET text_key = item;
UPDATE bias_events SET text_key = split_part(item, '#', 1) WHERE source <> 'probe';

-- scanned_texts: one row per reflection, keyed as the loop and bias rows name it, with its text:
-- `SELECT l.excerpt, t.text FROM loop_events l JOIN scanned_texts t USING (run_id, text_key)`.
CREATE VIEW scanned_texts AS
SELECT run_id, concat_ws(':', step, prompt_version, framing, sample_index) AS text_key, step, 'reflection' AS source,
       text
FROM reflections;
