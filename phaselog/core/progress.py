"""Terminal progress for long training: a bar redrawn in place on a terminal, or a plain line every tenth of a
segment when output goes to a file or CI log (a redrawn bar there is only noise); the first step always on a
line of its own as soon as it ends. Each says how long the segment has run, the speed, and when the segment and
the run will end: on a shared machine a segment can take ten times the quiet estimate, and only the measured rate
tells.

The lines sit on the segment's grid (start + k tenths) whichever step training resumed from, so the lines of a
resumed segment line up with those of an uninterrupted one."""
import sys
import time


def duration(seconds: float) -> str:
    """Seconds the way a person reads a wait: 45 s, 3 min 05 s, 2 h 07 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class TrainingProgress:
    def __init__(self, start_step: int, end_step: int, tokens_per_step: int, run_end_step: int | None = None,
                 later_segments: int = 0, analysis_seconds: float | None = None, stream=sys.stderr):
        """`run_end_step`: the run's last step (this segment's when None); `later_segments`: segments after this
        one; `analysis_seconds`: what one segment's evaluation, self-play and analysis took so far in this run
        (None before any finished), added to the run's ETA for this segment and each later one."""
        self.start_step, self.end_step = start_step, end_step
        self.tokens_per_step = tokens_per_step
        self.run_end_step = end_step if run_end_step is None else run_end_step
        self.later_segments, self.analysis_seconds = later_segments, analysis_seconds
        self.stream = stream
        self.interactive = stream.isatty()
        self.tenth = max(1, (end_step - start_step) // 10)
        self.last_draw = 0.0
        self.previous_step = None
        self.started = time.monotonic()
        # the rate is timed from the end of the first step: that one builds, compiles and warms caches
        self.first_step, self.first_done = None, None

    def begin(self, step: int) -> None:
        """A sign of life before the first step, which can take minutes (a long seq_len on CPU): not a hang. From
        `step`, where training starts: a resumed segment's checkpoint."""
        self.stream.write(f"  training steps {step + 1}-{self.end_step}: the first step is shown when it ends\n")
        self.stream.flush()

    def estimate(self, step: int) -> dict | None:
        """tok/s and the seconds left in the segment and the run, from the steps since the first one; None until
        there is one (the first step alone is not a rate)."""
        steps, seconds = step - self.first_step, time.monotonic() - self.first_done
        if steps <= 0 or seconds <= 0:
            return None
        per_step = seconds / steps
        run_left = (self.run_end_step - step) * per_step
        if self.analysis_seconds is not None:
            run_left += (1 + self.later_segments) * self.analysis_seconds
        return {"tok_s": self.tokens_per_step / per_step, "segment_left": (self.end_step - step) * per_step,
                "run_left": run_left}

    def line(self, step: int, loss: float) -> str:
        said = f"  step {step} of {self.end_step}: loss {loss:.3f}, {duration(time.monotonic() - self.started)} elapsed"
        eta = self.estimate(step)
        if eta is None:
            return said
        # until one segment's analysis has been timed, the run's ETA can only be its training's
        run = (f"run in ~{duration(eta['run_left'])}" if self.analysis_seconds is not None else
               f"run's training in ~{duration(eta['run_left'])}, analysis on top")
        return f"{said}, {eta['tok_s']:,.0f} tok/s; segment ends in ~{duration(eta['segment_left'])}, {run}"

    def bar(self, step: int, loss: float) -> str:
        """The terminal's redrawn line: about 100 columns at most, as a wrapped line cannot be redrawn by \\r."""
        filled = int(10 * (step - self.start_step) / (self.end_step - self.start_step))
        said = f"\r  step {step:>7} [{'#' * filled}{'.' * (10 - filled)}] loss {loss:.3f}"
        eta = self.estimate(step)
        if eta is not None:
            run = "run" if self.analysis_seconds is not None else "training"
            said += (f", {eta['tok_s']:,.0f} tok/s, segment ~{duration(eta['segment_left'])}, "
                     f"{run} ~{duration(eta['run_left'])}")
        return said + "\033[K"  # clears what a longer previous draw left

    def on_grid(self, step: int) -> bool:
        """A step where a plain line is due: the segment's end, or the first step past a tenth of it (steps may be
        skipped when ranks report only their newest)."""
        if step == self.end_step:
            return True
        tenths = (step - self.start_step) // self.tenth
        return tenths > (self.previous_step - self.start_step) // self.tenth

    def update(self, step: int, loss: float) -> None:
        if self.first_step is None:
            self.first_step, self.first_done, self.previous_step = step, time.monotonic(), step - 1
            # on a line of its own, with what it took: it tells how long the segment will be
            resumed = f" (resumed after step {step - 1})" if step - 1 != self.start_step else ""
            self.stream.write(f"  first step {step} done in {self.first_done - self.started:.1f} s{resumed}: "
                              f"loss {loss:.3f}\n")
        if self.interactive:
            if time.monotonic() - self.last_draw >= 0.2 or step == self.end_step:
                self.last_draw = time.monotonic()
                self.stream.write(self.bar(step, loss))
                if step == self.end_step:
                    self.stream.write("\n")
        elif self.on_grid(step) and (step != self.first_step or step == self.end_step):  # the first has its line
            self.stream.write(self.line(step, loss) + "\n")
        self.previous_step = step
        self.stream.flush()
