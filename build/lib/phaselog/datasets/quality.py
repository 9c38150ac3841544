"""Great Expectations suites over what data prep wrote: the kept documents (from each source's documents file)
and the token shards (read back from disk, so what is checked is what training will load).

Two suites, each a GX 1.x validation definition on an in-memory pandas asset of an ephemeral context, run through a
checkpoint that renders GX's HTML data docs into RUN/data_docs/. Beyond `data_quality.sample_rows` rows a suite
checks a stride sample taken per source and split (so every source stays in); the per-row statistics it samples
(token count, min and max token id) are computed from every row of the shards, read back in batches.
GX is imported inside `check_data_quality`: the import costs seconds, and only this step needs it."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from phaselog.datasets.shards import shard_path

EXAMPLES = 5


def document_frame(run_dir: Path, config) -> pd.DataFrame:
    """One row per kept document: its source, id, length and share of garbled characters."""
    frames = []
    for source in config.data.sources:
        table = pq.read_table(shard_path(Path(run_dir) / "shards", source.name, "documents"),
                              columns=["source", "doc_id", "chars", "bad_chars", "kept"])
        frames.append(table.filter(pc.field("kept")).drop_columns(["kept"]).to_pandas())
    frame = pd.concat(frames, ignore_index=True)
    frame["bad_share"] = frame["bad_chars"] / frame["chars"].clip(lower=1)
    return frame


def shard_frame(run_dir: Path, config) -> pd.DataFrame:
    """One row per shard row (document) of every source and split: its token count and extreme token ids,
    read in batches."""
    frames = []
    for source in config.data.sources:
        for split in ("train", "val"):
            for batch in pq.ParquetFile(shard_path(Path(run_dir) / "shards", source.name, split)).iter_batches(
                    columns=["doc_id", "tokens"]):
                tokens = batch.column(1)
                lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
                values = tokens.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
                starts = np.asarray(tokens.offsets)[:-1][lengths > 0]
                max_ids = np.full(len(lengths), -1, np.int64)
                min_ids = np.full(len(lengths), -1, np.int64)
                if len(starts):
                    max_ids[lengths > 0] = np.maximum.reduceat(values, starts)
                    min_ids[lengths > 0] = np.minimum.reduceat(values, starts)
                frames.append(pd.DataFrame({
                    "source": source.name, "split": split, "doc_id": batch.column(0).to_pylist(),
                    "tokens": lengths, "min_token": min_ids, "max_token": max_ids, "is_val": int(split == "val")}))
    return pd.concat(frames, ignore_index=True)


def stride_sample(frame: pd.DataFrame, limit: int, groups: list[str]) -> pd.DataFrame:
    """Every k-th row of each group, so at most about `limit` rows and never a group lost."""
    stride = -(-len(frame) // limit)
    if stride <= 1:
        return frame
    return frame[frame.groupby(groups).cumcount() % stride == 0].reset_index(drop=True)


def document_suite(gx, config) -> list:
    q, names = config.data_quality, [s.name for s in config.data.sources]
    E = gx.expectations
    return [
        E.ExpectColumnValuesToBeBetween(column="chars", min_value=1, meta={"label": "text present (chars >= 1)"}),
        E.ExpectColumnValuesToBeBetween(column="chars", min_value=config.data.min_doc_chars,
                                        max_value=config.data.chunk_chars,
                                        meta={"label": f"length in [{config.data.min_doc_chars}, "
                                                       f"{config.data.chunk_chars}] chars"}),
        E.ExpectColumnValuesToBeBetween(column="bad_share", max_value=q.max_bad_char_share, mostly=q.clean_doc_share,
                                        meta={"label": f"garbled-character share <= {q.max_bad_char_share}"}),
        E.ExpectColumnValuesToBeUnique(column="doc_id", meta={"label": "unique document ids"}),
        E.ExpectColumnValuesToBeInSet(column="source", value_set=names, meta={"label": "sources known to the config"}),
    ]


def shard_suite(gx, config, vocab_size: int) -> list:
    from great_expectations.expectations.row_conditions import Column

    low, high = config.data_quality.val_share_range
    E = gx.expectations
    per_source = [
        E.ExpectColumnMeanToBeBetween(column="is_val", min_value=low, max_value=high,
                                      row_condition=Column("source") == s.name,
                                      meta={"label": f"val share in [{low}, {high}] [{s.name}]"})
        for s in config.data.sources]
    return [
        E.ExpectColumnValuesToBeBetween(column="max_token", max_value=vocab_size - 1,
                                        meta={"label": f"token ids < vocab size {vocab_size}"}),
        E.ExpectColumnValuesToBeBetween(column="min_token", min_value=0, meta={"label": "token ids >= 0"}),
        E.ExpectColumnValuesToBeBetween(column="tokens", min_value=2,
                                        meta={"label": "no empty sequences (BOS + >= 1 token)"}),
        E.ExpectColumnDistinctValuesToContainSet(column="source", value_set=[s.name for s in config.data.sources],
                                                 meta={"label": "every configured source present"}),
        *per_source,
    ]


def check_data_quality(config, run_dir: Path, vocab_size: int) -> list[dict]:
    """Run both suites; return one row per expectation for the `data_quality` table (without run_id)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    run_dir = Path(run_dir)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(site_name="run", site_config={
        "class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str((run_dir / "data_docs").resolve())}})
    pandas_source = context.data_sources.add_pandas("phaselog")
    limit = config.data_quality.sample_rows
    suites = {"documents": (document_frame(run_dir, config), ["source"], document_suite(gx, config)),
              "shards": (shard_frame(run_dir, config), ["source", "split"], shard_suite(gx, config, vocab_size))}
    rows = []
    for name, (full, groups, expectations) in suites.items():
        frame = stride_sample(full, limit, groups)
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        batch = pandas_source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("all")
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=name, validation_definitions=[definition],
            result_format={"result_format": "SUMMARY", "unexpected_index_column_names": ["doc_id"],
                           "partial_unexpected_count": EXAMPLES}))
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        for validation in result.run_results.values():
            for outcome in validation.results:
                rows.append(quality_row(name, outcome, len(frame), len(full)))
    # one build for both suites: rendering the site is most of GX's run time
    context.build_data_docs()
    return rows


def quality_row(suite: str, outcome, checked_rows: int, total_rows: int) -> dict:
    config = outcome.expectation_config
    result = outcome.result or {}
    exception = (outcome.exception_info or {}).get("exception_message")
    if exception:
        observed = {"exception": exception}
    elif "partial_unexpected_index_list" in result:
        observed = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                    for row in result["partial_unexpected_index_list"][:EXAMPLES]]
    elif "partial_missing_list" in result:
        observed = {"missing": result["partial_missing_list"]}
    else:
        value = result.get("observed_value")
        observed = value.item() if hasattr(value, "item") else value
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return {"suite": suite, "expectation": config.meta.get("label", config.type), "success": bool(outcome.success),
            "checked_rows": checked_rows, "total_rows": total_rows, "unexpected_count": result.get("unexpected_count", result.get("missing_count")),
            "observed": json.dumps(observed, default=str), "kwargs": json.dumps(kwargs, default=str)}


def failure_summary(rows: list[dict], data_docs: Path) -> str | None:
    """One readable line for the failed expectations, or None when all passed."""
    failed = [r for r in rows if not r["success"]]
    if not failed:
        return None
    parts = []
    for r in failed:
        count = f"{r['unexpected_count']} of {r['checked_rows']} rows" if r["unexpected_count"] is not None else ""
        detail = f"{count}{', ' if count else ''}observed {r['observed']}"
        parts.append(f"{r['suite']}: {r['expectation']} failed ({detail})")
    return (f"data quality check failed: {'; '.join(parts)}. Details: {data_docs / 'index.html'} and the "
            "data_quality table")
