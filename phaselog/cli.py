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
        os.environ["PREFECT_HOME"] = str(home / ".prefect")
        (home / ".prefect").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def check_sources_exist(config) -> None:
    for source in config.data.sources:
        path = config.source_path(source)
        if not path.exists():
            raise PhaselogError(f"data.sources[{source.name}]: corpus path {path} does not exist "
                                "(set data.corpus_dir or $PHASELOG_CORPUS)")


def run_flow(config, run_id: str, home: Path) -> None:
    use_prefect_home(home)
    from flows.phase import phase_run

    print(f"run {run_id}: files in {home / run_id}, store {home / 'phaselog.duckdb'}", flush=True)
    phase_run(config=config, run_id=run_id, home=str(home))
    print(f"run {run_id} finished. Try:\n  phaselog sql \"select max(step), min(loss), max(loss) from metrics "
          f"where run_id = '{run_id}'\" --home {home}")


def cmd_run(args) -> None:
    from phaselog.config import load_config
    from phaselog.runs import check_run_id, new_run_id

    config = load_config(args.config, args.set)
    check_sources_exist(config)
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

    p = sub.add_parser("bench", parents=[common], help="benchmarks")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("data", parents=[common], help="corpus helpers")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    d = data_sub.add_parser("download", help="fetch the demo corpus from Project Gutenberg (needs internet)")
    d.add_argument("--dest", default=os.path.expanduser("~/.cache/phaselog/corpus"))
    d.set_defaults(func=cmd_data_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PhaselogError as err:
        print(f"phaselog: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phaselog: interrupted; `phaselog resume RUN_ID` carries on from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
