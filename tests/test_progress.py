"""Progress lines of a training segment: a line per tenth of the segment in a log, on the same grid after a resume,
each with elapsed time, tok/s and when the segment and the run will end."""
import io
import re

from phaselog.core.progress import TrainingProgress, duration

LINE = re.compile(r"  step (\d+) of (\d+): loss ([\d.]+), ([\d a-z]+) elapsed, ([\d,]+) tok/s; segment ends in "
                  r"~([\d a-z]+), (run in ~[\d a-z]+|run's training in ~[\d a-z]+, analysis on top)$")


def train(progress: TrainingProgress, first: int, last: int) -> list[str]:
    progress.begin(first - 1)
    for step in range(first, last + 1):
        progress.update(step, 3.0)
    return progress.stream.getvalue().splitlines()


def test_progress_lines_come_every_tenth_of_a_segment_with_elapsed_rate_and_eta():
    progress = TrainingProgress(1000, 2000, tokens_per_step=1024, run_end_step=4000, stream=io.StringIO())
    lines = train(progress, 1001, 2000)
    # a sign of life before the first step, the first step as soon as it ends, then a line per tenth
    assert lines[0] == "  training steps 1001-2000: the first step is shown when it ends"
    assert re.fullmatch(r"  first step 1001 done in [\d.]+ s: loss 3.000", lines[1])
    matches = [LINE.fullmatch(line) for line in lines[2:]]
    assert all(matches), lines[2:]
    assert [int(m[1]) for m in matches] == list(range(1100, 2001, 100))
    # no segment's analysis timed yet: the run's ETA is its training's and says so
    assert all(m[7].endswith("analysis on top") for m in matches)


def test_the_etas_follow_from_the_measured_rate_and_the_timed_analysis():
    progress = TrainingProgress(0, 100, tokens_per_step=512, run_end_step=300, later_segments=2,
                                analysis_seconds=40.0, stream=io.StringIO())
    train(progress, 1, 50)
    eta = progress.estimate(50)
    per_step = 512 / eta["tok_s"]
    assert abs(eta["segment_left"] - 50 * per_step) < 1e-9
    # the run: its 250 steps left, then this segment's analysis and each of the two later ones'
    assert abs(eta["run_left"] - (250 * per_step + 3 * 40.0)) < 1e-6
    # with the analysis timed, the line gives the run's end, not only its training's
    assert LINE.fullmatch(progress.line(50, 3.0))[7].startswith("run in ~")


def test_a_resumed_segment_keeps_the_tenth_of_segment_grid_and_says_where_it_resumed():
    progress = TrainingProgress(1000, 2000, tokens_per_step=1024, stream=io.StringIO())
    lines = train(progress, 1351, 2000)  # the checkpoint at 1350 was the last good one
    assert lines[0] == "  training steps 1351-2000: the first step is shown when it ends"
    assert re.fullmatch(r"  first step 1351 done in [\d.]+ s \(resumed after step 1350\): loss 3.000", lines[1])
    assert [int(LINE.fullmatch(line)[1]) for line in lines[2:]] == list(range(1400, 2001, 100))


def test_a_fresh_segment_does_not_say_resumed():
    progress = TrainingProgress(0, 40, tokens_per_step=64, stream=io.StringIO())
    assert "resumed" not in "\n".join(train(progress, 1, 40))


def test_ranks_reporting_only_their_newest_step_still_get_a_line_per_tenth():
    progress = TrainingProgress(0, 100, tokens_per_step=64, stream=io.StringIO())
    progress.begin(0)
    for step in (1, 7, 13, 18, 35, 36, 61, 99, 100):
        progress.update(step, 3.0)
    lines = progress.stream.getvalue().splitlines()[2:]
    # the first report past each tenth crossed; 36 is in the tenth 35 already opened
    assert [int(line.split()[1]) for line in lines] == [13, 35, 61, 99, 100]


def test_a_segment_of_few_steps_has_a_line_per_step_and_the_first_step_once():
    progress = TrainingProgress(0, 5, tokens_per_step=64, stream=io.StringIO())
    lines = train(progress, 1, 5)
    assert lines[1].startswith("  first step 1 done in ")
    assert [int(LINE.fullmatch(line)[1]) for line in lines[2:]] == [2, 3, 4, 5]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_bar_with_rate_and_etas_short_enough_not_to_wrap():
    progress = TrainingProgress(0, 1000, tokens_per_step=1, run_end_step=100_000, stream=Terminal())
    train(progress, 1, 1000)
    draws = progress.stream.getvalue().split("\n")[2].split("\r")[1:]
    assert draws, "no bar drawn"
    last = draws[-1].removesuffix("\033[K")
    assert re.fullmatch(r"  step +1000 \[#{10}\] loss 3.000, [\d,]+ tok/s, segment ~0 s, training ~[\d a-z]+",
                        last)
    assert all(len(d.removesuffix("\033[K")) <= 100 for d in draws)


def test_durations_read_as_a_wait():
    assert [duration(s) for s in (0.4, 45, 185, 7620)] == ["0 s", "45 s", "3 min 05 s", "2 h 07 min"]
