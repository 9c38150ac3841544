-- reflections: one row per (run, step, prompt version, framing, sample index): a text the model wrote from the prompt at a segment end, with its sampling settings and signatures.
CREATE TABLE reflections (
    run_id VARCHAR,
    step BIGINT,
    segment INTEGER,
    prompt_version VARCHAR,
    framing VARCHAR,             -- '' when no framing came before the prompt, else the framing prompt's name
    sample_index INTEGER,
    prompt_text VARCHAR,         -- the exact text the model continued (framing + prompt)
    text VARCHAR,                -- what the model wrote after the prompt
    token_count INTEGER,
    train_loss DOUBLE,           -- training loss at this step (metrics), NULL if not recorded
    temperature DOUBLE,
    top_k INTEGER,
    top_p DOUBLE,
    max_new_tokens INTEGER,      -- the budget actually used (config value cut to what fits in the context)
    seed BIGINT,
    seq_rep_4 DOUBLE,            -- 1 - unique token 4-grams / all token 4-grams
    distinct_2 DOUBLE,           -- unique token bigrams / all token bigrams
    compression_ratio DOUBLE,    -- UTF-8 bytes / zlib-compressed bytes
    formatting_score DOUBLE,     -- share of non-space characters that are structure characters
    formatting_token_share DOUBLE, -- share of tokens made only of structure characters and spaces
    motifs VARCHAR,              -- JSON {motif: count} of structure motifs seen at least twice
    motif_sequence VARCHAR,      -- JSON list: the first structure motifs in order of appearance
    motif_consistent BOOLEAN,    -- the step's reflections share one motif sequence (same for every row of a step)
    corpus_uptake VARCHAR,       -- JSON {source: {share, top}}: share of tokens distinctive of each source
    created_at TIMESTAMP,
    PRIMARY KEY (run_id, step, prompt_version, framing, sample_index)
);

-- journal: one row per entry id: a dated note on a run at a step, by the human researcher or mirrored from a model reflection.
CREATE TABLE journal (
    id VARCHAR PRIMARY KEY,      -- human: a random hex id; model: run:step:version:framing:sample
    run_id VARCHAR,
    step BIGINT,
    author VARCHAR,              -- human | model
    text VARCHAR,                -- stored exactly as given, never interpreted
    tags VARCHAR[],
    created_at TIMESTAMP
);
