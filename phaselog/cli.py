"""The `phaselog` command line. Each command is a small function; Prefect is imported only by the commands that
run flows, after PREFECT_HOME is pointed inside the phaselog home so runs never share a Prefect database by
accident."""
import argparse
import csv
import json
import os
import sys
from pathlib import Path

from phaselog.errors import PhaselogError


def home_of(args) -> Path:
    return Path(args.home or os.environ.get("PHASELOG_HOME") or "runs").resolve()


def use_prefect_home(home: Path) -> None:
    # only when nothing else is configured: a user pointing at their own Prefect server keeps it
    if "PREFECT_API_URL" not in os.environ and "PREFECT_HOME" not in os.environ:
        from phaselog.ui import running_api_url

        os.environ["PREFECT_HOME"] = str(home / ".prefect")
        (home / ".prefect").mkdir(parents=True, exist_ok=True)
        # a `phaselog ui` of this home owns that SQLite file: report to its server (the run shows in the UI)
        if url := running_api_url(home):
            os.environ["PREFECT_API_URL"] = url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect gives its temporary server 20 s to start; on a busy 2-core machine that has not been enough, and the
    # run then fails before it starts
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def check_sources_exist(config) -> None:
    for source in config.data.sources:
        path = config.source_path(source)
        if not path.exists():
            raise PhaselogError(f"data.sources[{source.name}]: corpus path {path} does not exist "
                                "(set data.corpus_dir or $PHASELOG_CORPUS)")


def run_flow(config, run_id: str, home: Path) -> None:
    use_prefect_home(home)
    from flows.phase import phase_run
    from phaselog.locks import hold_run

    print(f"run {run_id}: files in {home / run_id}, store {home / 'phaselog.duckdb'}", flush=True)
    with hold_run(home / run_id, run_id):  # e.g. a `phaselog resume` while the UI's retry of the run trains
        phase_run(config=config, run_id=run_id, home=str(home))
    print(f"run {run_id} finished. Try:\n  phaselog sql \"select max(step), min(loss), max(loss) from metrics "
          f"where run_id = '{run_id}'\" --home {home}")


def cmd_run(args) -> None:
    from model.prompts import check_prompts_fit
    from phaselog.config import load_config
    from phaselog.runs import check_run_id, new_run_id

    config = load_config(args.config, args.set)
    check_sources_exist(config)
    check_prompts_fit(config)
    run_id = args.run_id or new_run_id(config.name)
    check_run_id(run_id)
    run_flow(config, run_id, home_of(args))


def cmd_resume(args) -> None:
    from phaselog.config import PhaseConfig
    from phaselog.runs import run_record
    from phaselog.store import Store

    home = home_of(args)
    record = run_record(Store(home), args.run_id)
    config = PhaseConfig.model_validate_json(record["config_json"])
    check_sources_exist(config)
    run_flow(config, args.run_id, home)


def print_table(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([dict(zip(columns, row)) for row in rows], default=str, indent=1))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        for n, row in enumerate(cells):
            print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())
            if n == 0:
                print("  ".join("-" * width for width in widths))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def cmd_sql(args) -> None:
    from phaselog.store import Store

    columns, rows = Store(home_of(args)).query(args.query)
    print_table(columns, rows, args.format)


def cmd_report(args) -> None:
    from reports.build import write_report

    written = write_report(home_of(args), args.run_id, Path(args.out) if args.out else None,
                           args.from_step, args.to_step)
    print(f"phase log of {args.run_id}, steps {written['first_step']}-{written['last_step']}:\n"
          f"  {written['markdown']}\n  {written['html']}\n  charts: {', '.join(written['charts'])}")


def cmd_bench(args) -> None:
    from phaselog.bench import BENCHMARKS

    if args.name not in BENCHMARKS:
        raise PhaselogError(f"unknown benchmark {args.name!r}; choose from {', '.join(sorted(BENCHMARKS))}")
    result = BENCHMARKS[args.name]()
    print(json.dumps(result, indent=1) if args.json else result["summary"])


def cmd_data_download(args) -> None:
    from datasets.download import download_demo_corpus

    target = download_demo_corpus(Path(args.dest))
    print(f"demo corpus in {target}; run with PHASELOG_CORPUS={target}")


def cmd_eval(args) -> None:
    from model.checkpoint import checkpoint_path, is_good, list_checkpoints
    from phaselog.config import PhaseConfig, config_from_dict
    from phaselog.evaluation import record_evaluation, run_evaluation
    from phaselog.runs import run_record
    from phaselog.store import Store

    home = home_of(args)
    store = Store(home)
    config = PhaseConfig.model_validate_json(run_record(store, args.run_id)["config_json"])
    # this command is already a process of its own: evaluate here, with any bundle or item count given
    changes = {k: v for k, v in (("bundle", args.bundle), ("max_items_per_task", args.max_items)) if v is not None}
    raw = config.model_dump()
    raw["evaluation"].update(changes, process="in_process")
    config = config_from_dict(raw, "phaselog eval")
    run_dir = home / args.run_id
    if not is_good(checkpoint_path(run_dir / "checkpoints", args.step)):
        steps = ", ".join(str(c.step) for c in list_checkpoints(run_dir / "checkpoints")) or "none"
        raise PhaselogError(f"run {args.run_id} has no good checkpoint at step {args.step} in {run_dir / 'checkpoints'}"
                            f" (saved steps: {steps})")
    store.migrate()
    result = run_evaluation(run_dir, config, args.step)
    record_evaluation(store, args.run_id, args.step, result)
    print_table(["name", "value"], sorted(result["values"].items()), args.format)
    for skip in result["skipped"]:
        print(f"skipped {skip['task']}: {skip['reason']}")


def scan_summary(doc_id: str, text: str, result: dict) -> tuple:
    loops, bias = result["loops"], result["bias"]
    order = ["low", "medium", "high"]
    worst = max((f["severity"] for f in bias), key=order.index, default="")
    first = f"{bias[0]['category']}: {' / '.join(bias[0]['terms'])}" if bias else ""
    return (doc_id, len(text), loops["severity"], loops["excerpt"][:60], len(bias), worst, first[:60])


def cmd_scan(args) -> None:
    from understanding.scan import iter_scan_inputs, scan_text

    rows = []
    for doc_id, text in iter_scan_inputs(args.file):
        result = scan_text(text)
        if args.json:
            print(json.dumps({"doc_id": doc_id, "chars": len(text), **result}), flush=True)
        else:
            rows.append(scan_summary(doc_id, text, result))
    if not args.json:
        print_table(["doc", "chars", "loop", "loop excerpt", "bias", "worst", "first finding"], rows, "table")


def cmd_review(args) -> None:
    from phaselog.config import PhaseConfig
    from phaselog.reviews import answer_review, pending_review
    from phaselog.runs import run_record, set_status
    from phaselog.store import Store

    home = home_of(args)
    store = Store(home)
    record = run_record(store, args.run_id)
    review = pending_review(store, args.run_id)
    if record["status"] != "awaiting_review":
        raise PhaselogError(f"run {args.run_id} is {record['status']}, paused in Prefect for the review at step "
                            f"{review['step']}: answer it in the Prefect UI's resume form")
    answer_review(store, args.run_id, review["step"], args.decision, args.note, "cli")
    print(f"run {args.run_id}, step {review['step']}: {args.decision} recorded; the note is in the journal")
    if args.decision == "stop":
        set_status(store, args.run_id, "stopped")
        return
    config = PhaseConfig.model_validate_json(record["config_json"])
    check_sources_exist(config)
    run_flow(config, args.run_id, home)


def cmd_ui(args) -> None:
    from phaselog.ui import run_ui, ui_status

    if args.status:
        print("\n".join(ui_status(home_of(args))))
    else:
        run_ui(home_of(args), args.port)


def cmd_journal_add(args) -> None:
    from phaselog.journal import add_entry
    from phaselog.store import Store

    # "-" reads the entry from stdin: long texts exceed what one command-line argument may hold
    text = sys.stdin.read() if args.text == "-" else args.text
    entry = add_entry(Store(home_of(args)), args.run, text, args.step, args.tag)
    print(f"journal entry {entry['id']} on run {entry['run_id']} at step {entry['step']}")


def cmd_journal_list(args) -> None:
    from phaselog.journal import list_entries
    from phaselog.store import Store

    entries = list_entries(Store(home_of(args)), args.run, args.author, args.since_step)
    for e in entries:
        tags = "".join(f" #{t}" for t in e["tags"] or [])
        print(f"[step {e['step']:>7,}] {e['author']:<5} {e['run_id']} {e['created_at']:%Y-%m-%d %H:%M}{tags}")
        for line in e["text"].splitlines() or [""]:
            print(f"    {line}")
    print(f"({len(entries)} entr{'ies' if len(entries) != 1 else 'y'})")


def cmd_explore(args) -> None:
    from server.app import Limits, serve

    home = home_of(args)
    use_prefect_home(home)  # the review form resumes paused runs through the same Prefect as `phaselog run`
    serve(home, args.run, args.host, args.port, args.token, Limits(chats_per_minute=args.chats_per_minute))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phaselog", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="where the store and runs live (default $PHASELOG_HOME, else ./runs)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", parents=[common], help="run a phase as a Prefect flow")
    p.add_argument("config")
    p.add_argument("--run-id")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a config value")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", parents=[common], help="resume a failed or killed run from its last good checkpoint")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("sql", parents=[common], help="read-only SQL over the store")
    p.add_argument("query")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("report", parents=[common], help="write the phase log (markdown, HTML, PNG charts)")
    p.add_argument("run_id")
    p.add_argument("--out", help="folder for the report (default HOME/RUN_ID/reports/)")
    p.add_argument("--from-step", type=int, help="first step of the report (default: the phase's start)")
    p.add_argument("--to-step", type=int, help="last step of the report (default: the latest step)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("eval", parents=[common], help="evaluate a saved checkpoint (val bpb, CORE-style tasks)")
    p.add_argument("run_id")
    p.add_argument("--step", type=int, required=True, help="global step of a saved checkpoint")
    p.add_argument("--bundle", help="task bundle directory (default: the run's evaluation.bundle)")
    p.add_argument("--max-items", type=int, help="items per task (default: the run's evaluation.max_items_per_task)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", parents=[common], help="benchmarks")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("data", parents=[common], help="corpus helpers")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    d = data_sub.add_parser("download", help="fetch the demo corpus from Project Gutenberg (needs internet)")
    d.add_argument("--dest", default=os.path.expanduser("~/.cache/phaselog/corpus"))
    d.set_defaults(func=cmd_data_download)
    p = sub.add_parser("scan", parents=[common], help="loop and bias detectors over a text file or a corpus sample")
    p.add_argument("file", help="a .txt file (one document), a .jsonl file with a \"text\" field per line, or - for stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per document instead of a table")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("review", parents=[common], help="answer a run's pending review and continue it")
    p.add_argument("run_id")
    p.add_argument("--decision", required=True,  # phaselog.reviews.DECISIONS, not imported: it loads duckdb
                   choices=["resume", "resume_with_counterexamples", "stop", "false_positive"])
    p.add_argument("--note", default="", help="goes into the journal, tagged bias")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("ui", parents=[common], help="the Prefect UI: server, work pool, deployments and a worker")
    p.add_argument("--port", type=int, default=4200)
    p.add_argument("--status", action="store_true", help="say what runs (processes, API, unfinished flow runs)")
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("journal", help="the journal: your notes and the model's reflections")
    journal_sub = p.add_subparsers(dest="journal_command", required=True)
    j = journal_sub.add_parser("add", parents=[common], help="write a note on a run at a step")
    j.add_argument("--run", required=True)
    j.add_argument("--step", type=int, help="global step (default: the run's latest step)")
    j.add_argument("--tag", action="append", default=[], help="a tag such as bias or check-in; repeatable")
    j.add_argument("text", help="the entry, stored as given (up to 100,000 characters); - reads it from stdin")
    j.set_defaults(func=cmd_journal_add)
    j = journal_sub.add_parser("list", parents=[common], help="entries in step order, human and model")
    j.add_argument("--run")
    j.add_argument("--author", choices=["human", "model"])
    j.add_argument("--since-step", type=int)
    j.set_defaults(func=cmd_journal_list)

    p = sub.add_parser("explore", parents=[common], help="web page: chat with the latest checkpoint, the journal, "
                       "the run's overview")
    p.add_argument("--run", help="run shown first (default: the newest run in the store)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1", help="a non-loopback address needs --token")
    p.add_argument("--token", default=os.environ.get("PHASELOG_TOKEN"),
                   help="required on every request when set (default $PHASELOG_TOKEN)")
    p.add_argument("--chats-per-minute", type=int, default=20, help="chat messages allowed per client and minute")
    p.set_defaults(func=cmd_explore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PhaselogError as err:
        print(f"phaselog: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # output piped into a reader that stopped early (`| head`): not an error; keep Python quiet at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        print("phaselog: interrupted; `phaselog resume RUN_ID` carries on from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
