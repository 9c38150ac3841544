"""Terminal progress for long training: a bar redrawn in place on a terminal, or a plain line every tenth of a
segment when output goes to a file or CI log (a redrawn bar there is only noise); the first step always on a
line of its own as soon as it ends."""
import sys
import time


class TrainingProgress:
    def __init__(self, start_step: int, end_step: int, stream=sys.stderr):
        self.start_step, self.end_step = start_step, end_step
        self.stream = stream
        self.interactive = stream.isatty()
        self.last_draw = 0.0
        self.last_line_step = start_step
        self.started = time.monotonic()
        self.first = True
        # a sign of life before the first step, which can take minutes (a long seq_len on CPU): not a hang
        self.stream.write(f"  training steps {start_step + 1}-{end_step}: the first step is shown when it ends\n")
        self.stream.flush()

    def update(self, step: int, loss: float) -> None:
        if self.first:
            self.first = False
            # on a line of its own, with what it took: it tells how long the segment will be
            self.stream.write(f"  first step {step} done in {time.monotonic() - self.started:.1f} s: loss {loss:.3f}\n")
        total = self.end_step - self.start_step
        done = step - self.start_step
        if self.interactive:
            if time.monotonic() - self.last_draw < 0.2 and step != self.end_step:
                return
            self.last_draw = time.monotonic()
            filled = int(30 * done / total)
            self.stream.write(f"\r  step {step:>7} [{'#' * filled}{'.' * (30 - filled)}] loss {loss:.3f} ")
            if step == self.end_step:
                self.stream.write("\n")
        elif step - self.last_line_step >= max(1, total // 10) or step == self.end_step:
            self.last_line_step = step
            self.stream.write(f"  step {step} of {self.end_step}: loss {loss:.3f}\n")
        self.stream.flush()
