-- segments: how much of the machine the segment's training got, so a log can say when the machine was shared (a
-- wide spread of tokens/sec alone does not tell a shared machine from a slow step). model/train.py measures it
-- over the segment's training loop (not the data loading or the model build before it); NULL for rows from before
-- 012, under torchrun (several processes), and for a segment whose end checkpoint was there already.
-- The share of its threads' time the training had: cpu_seconds / (loop_seconds * threads).
ALTER TABLE segments ADD COLUMN cpu_seconds DOUBLE;   -- CPU time of the training process (all its threads) in the loop
ALTER TABLE segments ADD COLUMN loop_seconds DOUBLE;  -- the loop's wall clock
ALTER TABLE segments ADD COLUMN threads INTEGER;      -- torch's intra-op threads (torch.get_num_threads())
ALTER TABLE segments ADD COLUMN cores INTEGER;        -- the machine's logical CPUs (os.cpu_count())
ALTER TABLE segments ADD COLUMN load_start DOUBLE;    -- the machine's 1-minute load average as the loop started
ALTER TABLE segments ADD COLUMN load_end DOUBLE;      -- and as it ended
