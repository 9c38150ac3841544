"""The `phaselog` command line, the top of the house: each command is a small function over the layers below.
Each command imports what it needs inside its function: `phaselog sql` must not pay seconds for torch and
Prefect, and Prefect may be imported only after PREFECT_HOME points inside the phaselog home, so runs never share
a Prefect database by accident."""
import argparse
import csv
import errno
import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from phaselog.core.errors import PhaselogError
from phaselog.core.runs import resolve_home


def home_of(args) -> Path:
    return resolve_home(args.home)


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


def exit_on_termination(run_id: str) -> None:
    """SIGTERM and SIGHUP (`kill`, a closed terminal, a batch system's stop) end the command as an exception, like
    Ctrl-C: the run is marked failed, and the temporary Prefect server, stopped at interpreter exit, goes with it.
    Under the default handlers the process died on the spot and the server ran on for many minutes. (During the
    flow Prefect's own handler marks the flow run, then passes the signal on to this one.)"""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda received, frame: stop_by_signal(run_id, received))


def stop_by_signal(run_id: str, signum: int) -> NoReturn:
    # torch and Prefect leave millions of objects: Python's last garbage collection at exit took 5-7 s on a loaded
    # machine, after the run had stopped; frozen objects are left to the process's end
    gc.freeze()
    print(f"phaselog: stopped by {signal.Signals(signum).name}; `phaselog resume {run_id}` carries on from the "
          "last checkpoint", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def termination_signal_in(err: BaseException) -> int | None:
    """The signal behind a flow's failure, if Prefect's TerminationSignal is anywhere in its chain: raised inside
    torch.save, it was replaced by the zip writer's own error ("unexpected pos"), and the flow failed with that."""
    from prefect.exceptions import TerminationSignal

    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, TerminationSignal):
            return err.signal
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


class NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed task and flow with their tracebacks. For a PhaselogError (bad data, a bad setting),
    and for a stop the user asked for (a signal that landed anywhere, even inside torch.save), those are dozens of
    lines of noise above the one line main() prints last, which says what to do; the Prefect UI keeps them (its
    handler sees the record first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and (isinstance(record.exc_info[1], PhaselogError)
                                or termination_signal_in(record.exc_info[1]) is not None):
            record.exc_info = record.exc_text = None
        return True


def run_flow(config, run_id: str, home: Path) -> None:
    exit_on_termination(run_id)
    use_prefect_home(home)
    from phaselog.ui import start_temporary_server, wait_for_api

    # no server of the user's or of a `phaselog ui`: one of this run's, outside the process group (Ctrl-C and a
    # batch system's SIGTERM reach the whole group, and the run must still record that it stopped). A Prefect
    # imported already (a test session's harness) has read its settings and would not use it.
    server = None if "PREFECT_API_URL" in os.environ or "prefect" in sys.modules else start_temporary_server(home)
    from phaselog.core.locks import hold_run
    from phaselog.flows.phase import phase_run

    if server is not None:  # started while the imports above ran
        print(f"Starting a temporary Prefect server on {os.environ['PREFECT_API_URL'].removesuffix('/api')} for this "
              "run: a `phaselog ui` of this home (or PREFECT_API_URL) keeps one running and saves its start-up",
              file=sys.stderr, flush=True)
        wait_for_api(os.environ["PREFECT_API_URL"], server,
                     home / ".prefect" / "logs" / "temporary-server.log")

    for handler in logging.getLogger().handlers:  # Prefect's console handler sits on the root logger
        if not any(isinstance(f, NoTracebackForUserErrors) for f in handler.filters):
            handler.addFilter(NoTracebackForUserErrors())

    from phaselog.core.pending import pending_writes, queued_for
    from phaselog.core.store import Store

    print(f"run {run_id}: files in {home / run_id}, store {Store(home)}", flush=True)
    with hold_run(home / run_id, run_id):  # e.g. a `phaselog resume` while the UI's retry of the run trains
        try:
            phase_run(config=config, run_id=run_id, home=str(home))
        except KeyboardInterrupt:
            stop_by_signal(run_id, signal.SIGINT)  # the hint names the run
        except Exception as err:
            if (signum := termination_signal_in(err)) is None:
                raise
            stop_by_signal(run_id, signum)
    print(f"run {run_id} finished. Try:\n  phaselog sql \"select max(step), min(loss), max(loss) from metrics "
          f"where run_id = '{run_id}'\" --home {home}")
    if queued := pending_writes(home):
        # the last line, where a user looks: a plain duckdb client sees the run as running until these are in
        store = Store(home, queued_for(home))
        why, free = (("its catalog could not be reached", "it is back") if store.lake else
                     ("another process holds the store", "it lets go"))
        print(f"{len(queued)} of its writes still wait in {home / 'inbox' / 'store'}, since {why}: `phaselog store "
              f"drain --home {home}` puts them in as soon as {free}")


def cmd_run(args) -> None:
    from phaselog.core.config import load_config
    from phaselog.core.runs import check_same_config, new_run_id
    from phaselog.core.store import Store, use_config_store
    from phaselog.model.preflight import check_before_run

    config = load_config(args.config, args.set)
    run_id = new_run_id(config.name) if args.run_id is None else args.run_id  # --run-id "" is a mistake, not "any"
    check_before_run(config, run_id)
    home = home_of(args)
    use_config_store(config.store)
    check_same_config(Store(home), run_id, config, home / run_id)
    run_flow(config, run_id, home)


def cmd_plan(args) -> None:
    from phaselog.core.config import load_config
    from phaselog.model.device import pick_device, trains_bf16
    from phaselog.model.memory import available_memory, human, parse_memory, plan_for

    config = load_config(args.config, args.set)
    budget = parse_memory(args.memory) if args.memory else available_memory(config.train.device)
    plan = plan_for(config, budget)
    t, parts = config.train, plan.step_bytes
    print(f"{config.name}: micro-batch {plan.micro_batch} x grad_accum {plan.grad_accum} x seq_len "
          f"{config.model.seq_len} = {plan.micro_batch * plan.grad_accum * config.model.seq_len} tokens per step "
          f"(configured {t.batch_size} x {t.grad_accum}); peak ~{human(plan.peak)} of {human(budget)}")
    precision = "bf16 autocast" if trains_bf16(config) else "fp32"
    print(f"  train step ({precision} on {pick_device(t.device).type}): "
          + ", ".join(f"{name} {human(n)}" for name, n in parts.items()))
    print(f"  probe pass {human(plan.probe_bytes)}, evaluation at batch 1 {human(plan.eval_bytes)}")


def cmd_resume(args) -> None:
    from phaselog.core.config import PhaseConfig
    from phaselog.core.runs import run_record
    from phaselog.core.store import Store
    from phaselog.model.preflight import check_before_run

    home = home_of(args)
    store = Store(home)
    saved = home / args.run_id / "config.json"
    if store.run_exists(args.run_id):
        config = PhaseConfig.model_validate_json(run_record(store, args.run_id)["config_json"])
    elif saved.is_file():
        # the store lost the run (deleted, rebuilt, another home's copy) but its files are here: the flow refills it
        print(f"run {args.run_id} is not in {store}; recovering it from {home / args.run_id}", flush=True)
        config = PhaseConfig.model_validate_json(saved.read_text())
    else:
        run_record(store, args.run_id)  # the error naming the store and how to list its runs
    check_before_run(config, args.run_id)
    run_flow(config, args.run_id, home)


def cmd_continue(args) -> None:
    from phaselog.core.runs import new_run_id
    from phaselog.core.store import Store, use_config_store
    from phaselog.model.preflight import check_before_run, continuation

    home = home_of(args)
    config, step = continuation(home, args.run_id, args.config, args.set)
    use_config_store(config.store)
    run_id = new_run_id(config.name) if args.run_id_new is None else args.run_id_new  # "" is refused, as by `run`
    check_before_run(config, run_id)
    if Store(home).run_exists(run_id) or (home / run_id).exists():
        raise PhaselogError(f"--run-id {run_id}: that run exists already; a continuation is a new run")
    print(f"run {run_id} continues {args.run_id} from step {step} in phase {config.phase_name()}", flush=True)
    run_flow(config, run_id, home)
    from phaselog.reports.phase import phase_folder

    print(f"phase log of {config.phase_name()} (written by the flow): {phase_folder(home, config.phase_name())}/"
          f"phase-log.md; again with `phaselog report --phase {config.phase_name()}`")


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
    from phaselog.core.store import Store

    columns, rows = Store(home_of(args)).query(args.query, untrusted=True)
    print_table(columns, rows, args.format)


def cmd_store_copy(args) -> None:
    from phaselog.core.store import Store, copy_store

    home = home_of(args)
    source, target = Store(home, args.source), Store(home, args.target)
    copied = copy_store(source, target)
    print(f"copied {sum(copied.values()):,} rows of {len(copied)} tables from {source} to {target}; point "
          f"PHASELOG_STORE (or the config's store:) at {target.url.text} to use it")


def cmd_store_migrate(args) -> None:
    from phaselog.core.store import Store

    store = Store(home_of(args))
    store.migrate()
    print(f"the tables of {store} are up to date")


def cmd_store_drain(args) -> None:
    import time

    from phaselog.core.pending import pending_writes, queued_for
    from phaselog.core.store import Store

    home = home_of(args)
    # the store the run queued them for: a lake of a config's `store:` is not the home's default
    store, queued = Store(home, queued_for(home)), len(pending_writes(home))
    if not store.drain_pending(attempts=1):
        awaited = f"{store} to be reachable" if store.lake else f"the process holding {store} to let go"
        print(f"{queued} queued writes wait for {awaited} (Ctrl-C stops waiting)", flush=True)
        while not store.drain_pending(attempts=1):
            time.sleep(1)
    print(f"{queued} queued writes are in {store}")


def cmd_report(args) -> None:
    if args.phase:
        from phaselog.reports.phase import write_phase_report

        if args.run_id or args.from_step is not None or args.to_step is not None:
            raise PhaselogError("report --phase: give a phase name or a RUN_ID (with --from-step/--to-step), not both")
        written = write_phase_report(home_of(args), args.phase, Path(args.out) if args.out else None)
        print(f"phase log of phase {args.phase}, runs {', '.join(written['runs'])}:\n  {written['markdown']}\n"
              f"  {written['html']}\n  charts: {', '.join(written['charts'])}")
        return
    if not args.run_id:
        raise PhaselogError("report: give a RUN_ID, or --phase NAME for every run of a phase")
    from phaselog.reports.build import write_report

    if args.out:
        writable_folder(Path(args.out), "report --out")
    written = write_report(home_of(args), args.run_id, Path(args.out) if args.out else None,
                           args.from_step, args.to_step)
    print(f"phase log of {args.run_id}, steps {written['first_step']}-{written['last_step']}:\n"
          f"  {written['markdown']}\n  {written['html']}\n  charts: {', '.join(written['charts'])}")


# option: the benchmarks that take it
BENCH_OPTIONS = {"device": ("train",), "compile": ("train",), "seconds": ("converge", "gpu"),
                 "seeds": ("converge", "race"), "full": ("race",), "shape": ("race",),
                 "steps": ("race",), "set": ("race",), "target": ("race",),
                 "fractions": ("race",)}


def cmd_bench(args) -> None:
    import importlib

    # each benchmark is phaselog/bench/NAME.py's bench_NAME, imported only when asked for (bench report lives with
    # the report it times)
    benchmarks = {name: ("phaselog.bench." + name, "bench_" + name) for name in
                  ("train", "monitor", "generate", "data", "eval", "explore", "scan", "converge", "race", "gpu",
                   "store")}
    benchmarks["report"] = ("phaselog.reports.bench", "bench_report")
    if args.name not in benchmarks:
        raise PhaselogError(f"unknown benchmark {args.name!r}; choose from {', '.join(sorted(benchmarks))}")
    options = {name: getattr(args, name) for name in BENCH_OPTIONS if getattr(args, name) is not None}
    for name in options:
        if args.name not in BENCH_OPTIONS[name]:
            takers = " and ".join(BENCH_OPTIONS[name])
            raise PhaselogError(f"bench {args.name}: --{name} applies to bench {takers} only")
    if options.get("seconds", 1) <= 0 or options.get("seeds", 1) < 1 or options.get("steps", 10) < 10:
        raise PhaselogError(f"bench {args.name}: --seconds must be above 0, --seeds at least 1 and --steps at least 10")
    if not all(0 < f <= 1 for f in options.get("fractions", [1])):
        raise PhaselogError(f"bench {args.name}: --fractions are shares of T, above 0 and at most 1")
    if options.get("target", 1) <= 0:
        raise PhaselogError(f"bench {args.name}: --target must be a val loss above 0")
    if "set" in options:
        options["overrides"] = options.pop("set")  # `set` names a builtin; bench_race calls them overrides
    module, function = benchmarks[args.name]
    result = getattr(importlib.import_module(module), function)(**options)
    print(json.dumps(result, indent=1) if args.json else result["summary"])


def cmd_data_download(args) -> None:
    from phaselog.datasets.download import download_demo_corpus

    target = download_demo_corpus(Path(args.dest))
    print(f"demo corpus in {target}; run with PHASELOG_CORPUS={target}")


def cmd_eval(args) -> None:
    from phaselog.core.config import PhaseConfig, config_from_dict
    from phaselog.core.runs import record_evaluation, run_record
    from phaselog.core.store import Store
    from phaselog.model.checkpoint import checkpoint_path, is_good, list_checkpoints
    from phaselog.model.evaluate import run_evaluation

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
    from phaselog.understanding.scan import iter_scan_inputs, scan_text

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
    from phaselog.core.config import PhaseConfig
    from phaselog.core.reviews import answer_review, pending_review
    from phaselog.core.runs import run_record, set_status
    from phaselog.core.store import Store
    from phaselog.model.preflight import check_before_run

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
    check_before_run(config, args.run_id)
    run_flow(config, args.run_id, home)


def cmd_ui(args) -> None:
    from phaselog.ui import run_ui, ui_status

    check_port(args.port, "ui")
    if args.status:
        print("\n".join(ui_status(home_of(args))))
    else:
        run_ui(home_of(args), args.port)


def cmd_journal_add(args) -> None:
    from phaselog.core.journal import add_entry
    from phaselog.core.store import Store

    # "-" reads the entry from stdin: long texts exceed what one command-line argument may hold
    text = read_stdin_text("journal add -") if args.text == "-" else args.text
    entry = add_entry(Store(home_of(args)), args.run, text, args.step, args.tag)
    print(f"journal entry {entry['id']} on run {entry['run_id']} at step {entry['step']}")


def cmd_journal_list(args) -> None:
    from phaselog.core.journal import list_entries
    from phaselog.core.store import Store

    entries = list_entries(Store(home_of(args)), args.run, args.author, args.since_step)
    for e in entries:
        tags = "".join(f" #{t}" for t in e["tags"] or [])
        print(f"[step {e['step']:>7,}] {e['author']:<5} {e['run_id']} {e['created_at']:%Y-%m-%d %H:%M}{tags}")
        for line in e["text"].splitlines() or [""]:
            print(f"    {line}")
    print(f"({len(entries)} entr{'ies' if len(entries) != 1 else 'y'})")


def cmd_explore(args) -> None:
    from phaselog.server.app import Limits, serve

    check_port(args.port, "explore")
    home = home_of(args)
    use_prefect_home(home)  # the review form resumes paused runs through the same Prefect as `phaselog run`
    serve(home, args.run, args.host, args.port, args.token, Limits(chats_per_minute=args.chats_per_minute))


def writable_folder(path: Path, option: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PhaselogError(f"{option} {path}: cannot create that folder ({err.strerror}); pick another") from None


def check_port(port: int, command: str) -> None:
    if not 0 < port < 65536:
        raise PhaselogError(f"{command} --port {port}: a TCP port is 1-65535")


def read_stdin_text(where: str) -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PhaselogError(f"{where}: standard input is not UTF-8 text (byte {err.start} is invalid); "
                            "convert it first, e.g. with iconv") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phaselog", description="Train a small GPT in phases under Prefect, watch "
                                     "it learn, and keep everything in one DuckDB store.")
    home_help = "where the store and runs live (default $PHASELOG_HOME, else ./runs)"
    # before the command (`phaselog --home DIR sql ...`, as git and prefect take their options) or after it; the
    # command's copy is SUPPRESSed when absent, so it never overwrites one given before the command
    parser.add_argument("--home", help=home_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=home_help)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", parents=[common], help="run a phase as a Prefect flow")
    p.add_argument("config")
    p.add_argument("--run-id")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a config value")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plan", parents=[common], help="estimate a step's peak memory; the micro-batch that fits")
    p.add_argument("config")
    p.add_argument("--memory", help="memory to plan for, e.g. 8GB (default: the GPU's, or the machine's available)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a config value")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("resume", parents=[common], help="resume a failed or killed run from its last good checkpoint")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("continue", parents=[common], help="a new run in the same phase, from a run's newest good "
                       "checkpoint (weights, optimizer, RNG, schedule and data position carry over), with changes")
    p.add_argument("run_id", help="the run to continue")
    p.add_argument("--config", help="a config file for the new run (default: the parent's config)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="change a config value")
    p.add_argument("--run-id", dest="run_id_new", help="id of the new run (default: the config's name and the time)")
    p.set_defaults(func=cmd_continue)

    p = sub.add_parser("sql", parents=[common], help="read-only SQL over the store")
    p.add_argument("query")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("store", help="the store itself: duckdb:PATH, ducklake:sqlite:PATH?data=DIR or "
                       "ducklake:postgres:DSN?data=DIR (docs/scale.md)")
    store_sub = p.add_subparsers(dest="store_command", required=True)
    s = store_sub.add_parser("copy", parents=[common], help="copy every row of one store into a new or empty one")
    s.add_argument("source", help="the store to copy (a URL, or the path of a DuckDB file)")
    s.add_argument("target", help="the store to fill (created and migrated when missing)")
    s.set_defaults(func=cmd_store_copy)
    s = store_sub.add_parser("migrate", parents=[common], help="create the store's tables or bring them up to date: "
                             "once, before a lake's workers start (docs/scale.md); a run does it too")
    s.set_defaults(func=cmd_store_migrate)
    s = store_sub.add_parser("drain", parents=[common], help="put the writes a run queued while another process "
                             "held the store file or a lake's catalog was down (HOME/inbox/store) into it, waiting "
                             "until the store is free")
    s.set_defaults(func=cmd_store_drain)

    p = sub.add_parser("report", parents=[common], help="write the phase log (markdown, HTML, PNG charts)")
    p.add_argument("run_id", nargs="?", help="one run (or --phase)")
    p.add_argument("--phase", help="every run of this phase, as its runs (default folder HOME/phases/PHASE/)")
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
    p.add_argument("--device", choices=["cpu", "cuda"], help="bench train only: where to train (default cpu)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="bench train only: add torch.compile'd rows (compiling can take a minute on a CPU)")
    p.add_argument("--seconds", type=float, help="bench converge: training seconds per run (default 120); bench "
                   "gpu: seconds of training (default 90)")
    p.add_argument("--seeds", type=int, help="bench converge: seeds per optimizer (default 3); bench race: seeds "
                   "per trainer (default 3, 5 with --full)")
    p.add_argument("--full", action="store_true", default=None,
                   help="bench race only: longer budgets, more seeds and more shares of T (about 1.5 hours)")
    p.add_argument("--shape", choices=["demo", "wide"], help="bench race only: race this shape alone (default both)")
    p.add_argument("--steps", type=int, help="bench race only: the budget T in the peer's steps for every shape "
                   "(default 800 at demo, 300 at wide; 4,000 and 1,500 with --full)")
    p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                   help="bench race only: change phaselog's config (not the peer's), repeatable: a lever raced")
    p.add_argument("--target", type=float, metavar="LOSS", help="bench race only: race phaselog alone (no peer) to "
                   "this val loss, e.g. a target measured before; needs --shape")
    p.add_argument("--fractions", type=lambda text: [float(f) for f in text.split(",")], metavar="F,F",
                   help="bench race only: the shares of T phaselog trains complete schedules at (default "
                   "0.2,0.3,0.5,1); 1 alone: a lever's final loss at the budget T, at a third of the cost")
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
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        # a checkpoint or metrics file on a full disk: the files written before it are kept, and resume carries on
        print(f"phaselog: error: no space left on device writing {err.filename or 'a file'}: free space, then "
              "`phaselog resume RUN_ID`", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phaselog: interrupted; `phaselog resume RUN_ID` carries on from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
