-- activation_stats: one row per (run, probe step, layer): the block's activations on the fixed probe batch and its gradient and update at that step.
CREATE TABLE activation_stats (
    run_id VARCHAR,
    step BIGINT,
    layer INTEGER,
    resid_rms DOUBLE,        -- RMS of the residual stream after the block
    resid_max_abs DOUBLE,    -- largest |activation| in the residual stream after the block
    mlp_sparsity DOUBLE,     -- share of MLP hidden units exactly zero (ReLU^2 off)
    attn_entropy DOUBLE,     -- attention entropy / log(visible keys), mean over heads and positions (1 = uniform)
    grad_norm DOUBLE,        -- L2 norm of the block's gradient before clipping
    update_ratio DOUBLE,     -- ||weights after the optimizer step - before|| / ||before||
    weight_norm DOUBLE,
    PRIMARY KEY (run_id, step, layer)
);

-- health: one row per (run, step): the verdict over the segment ending at that step, or at the step training diverged.
CREATE TABLE health (
    run_id VARCHAR,
    step BIGINT,
    segment_start BIGINT,
    status VARCHAR,          -- healthy | needs_attention | critical
    reasons VARCHAR,         -- JSON list of {code, step, layer, value, threshold}
    first_flagged_step BIGINT,
    sentence VARCHAR,
    PRIMARY KEY (run_id, step)
);

-- learning_pattern: one row per (run, segment start): where updates concentrated across depth in that segment.
CREATE TABLE learning_pattern (
    run_id VARCHAR,
    segment_start BIGINT,
    segment_end BIGINT,
    pattern VARCHAR,         -- early | middle | late | uniform | unknown
    most_active_layers INTEGER[],
    layer_activity DOUBLE[], -- per layer, 1 = the mean layer
    sentence VARCHAR,
    PRIMARY KEY (run_id, segment_start)
);

-- shimmer_history: one row per (run, probe step, layer): mean |change| of the normalised probe activations since the previous probe step.
CREATE TABLE shimmer_history (
    run_id VARCHAR,
    step BIGINT,
    previous_step BIGINT,
    layer INTEGER,
    shimmer DOUBLE,
    PRIMARY KEY (run_id, step, layer)
);

-- concepts: one row per (run, checkpoint step, concept id): an MLP unit's stability since the previous segment's checkpoint and its tier.
CREATE TABLE concepts (
    run_id VARCHAR,
    step BIGINT,
    previous_step BIGINT,
    concept_id VARCHAR,      -- L<layer>U<unit>
    layer INTEGER,
    unit INTEGER,
    tier VARCHAR,            -- forming | maturing | candidate_to_freeze
    stability DOUBLE,        -- min(profile correlation, weight cosine)
    profile_corr DOUBLE,
    weight_cos DOUBLE,
    active_fraction DOUBLE,  -- share of probe tokens on which the unit fires
    frozen BOOLEAN,
    PRIMARY KEY (run_id, step, concept_id)
);
