#!/usr/bin/env python3
"""Read a genesys-etl Parquet output with independent readers (pyarrow and DuckDB).

Prints JSON: rows per table (pyarrow and DuckDB must agree), distinct keys per table,
the oracle's checksums recomputed from the data, and a digest per table of every row
(sorted by key, `_version` excluded) so two outputs can be compared for equality.

usage: verify_parquet.py OUT_DIR
"""
import glob
import hashlib
import json
import os
import sys

import duckdb
import pyarrow.dataset as ds

# Keys as design.md §4 declares them; kept here on purpose, independent of the Rust schema.
KEYS = {
    "conversations": ["conversation_id"],
    "participants": ["conversation_id", "participant_id"],
    "participant_attributes": ["conversation_id", "participant_id", "name"],
    "sessions": ["conversation_id", "participant_id", "session_id"],
    "segments": ["conversation_id", "participant_id", "session_id", "segment_index"],
    "session_metrics": ["conversation_id", "participant_id", "session_id", "metric_index"],
}


def main(out):
    con = duckdb.connect()
    result = {"tables": {}, "distinct_keys": {}, "checks": {}, "digest": {}}
    for table, key in KEYS.items():
        files = glob.glob(os.path.join(out, table, "date=*", "*.parquet"))
        if not files:
            result["tables"][table] = 0
            result["distinct_keys"][table] = 0
            result["digest"][table] = hashlib.sha256(b"").hexdigest()
            continue
        src = f"read_parquet('{out}/{table}/date=*/*.parquet', hive_partitioning = true)"
        n_duck = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
        n_arrow = ds.dataset(os.path.join(out, table), format="parquet", partitioning="hive").count_rows()
        if n_duck != n_arrow:
            raise SystemExit(f"{table}: duckdb counts {n_duck} rows, pyarrow {n_arrow}")
        result["tables"][table] = n_duck
        k = ", ".join(key)
        result["distinct_keys"][table] = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {k} FROM {src})").fetchone()[0]
        h = hashlib.sha256()
        for row in con.execute(f"SELECT * EXCLUDE (_version, date) FROM {src} ORDER BY {k}").fetchall():
            h.update(repr(row).encode())
        result["digest"][table] = h.hexdigest()
        if table == "conversations":
            open_, start_s = con.execute(
                f"SELECT count(*) FILTER (WHERE conversation_end IS NULL), sum(epoch_ms(conversation_start) // 1000) FROM {src}"
            ).fetchone()
            result["checks"]["conversations.open"] = int(open_)
            result["checks"]["conversations.start_seconds_sum"] = int(start_s)
        if table == "session_metrics":
            result["checks"]["session_metrics.value_sum"] = int(con.execute(f"SELECT sum(value) FROM {src}").fetchone()[0])
        if table == "segments":
            result["checks"]["segments.duration_ms_sum"] = int(
                con.execute(
                    f"SELECT sum(epoch_ms(segment_end) - epoch_ms(segment_start)) FROM {src} WHERE segment_end IS NOT NULL"
                ).fetchone()[0]
            )
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
