-- A phase is a chain of runs (phaselog/phases.py): a run records its phase, the run it continues, the step of the
-- parent's checkpoint it started from, and what it changed in the config. Existing runs each start a phase named
-- after their config.
ALTER TABLE runs ADD COLUMN phase VARCHAR;
ALTER TABLE runs ADD COLUMN parent_run VARCHAR;     -- NULL for the first run of a phase
ALTER TABLE runs ADD COLUMN continued_from BIGINT;  -- the parent's checkpoint step, = this run's start_step
ALTER TABLE runs ADD COLUMN config_diff VARCHAR;    -- JSON {dotted.path: [parent's value, this run's value]}
UPDATE runs SET phase = name WHERE phase IS NULL;
