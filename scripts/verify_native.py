#!/usr/bin/env python3
"""Check genesys-etl's ClickHouse Native output with chDB, a modern ClickHouse engine
(PyPI chdb-core), since no modern server can be installed where the tests run.

usage:
  verify_native.py read FILE          print what chDB reads from file(FILE, Native):
                                      {"meta": [[name, type], ...], "data": [[...], ...]}
  verify_native.py load DDL_FILE DIR  apply the DDL in a fresh chDB session, load every
                                      DIR/<table>.native twice, and print per table
                                      {"final": n, "raw": n, "min_start_ms": ms}
"""
import json
import os
import sys
import tempfile

import chdb
from chdb import session as chs


def read(path):
    r = json.loads(chdb.query(f"SELECT * FROM file('{path}', Native)", "JSONCompact").bytes())
    print(json.dumps({"meta": [[m["name"], m["type"]] for m in r["meta"]], "data": r["data"]}))


def load(ddl_file, directory):
    s = chs.Session(tempfile.mkdtemp(prefix="chdb-"))
    db = None
    for statement in open(ddl_file).read().split(";\n"):
        statement = statement.strip()
        if not statement or statement.startswith("--"):
            continue
        s.query(statement)
        if statement.startswith("CREATE DATABASE"):
            db = statement.split()[-1]
    out = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".native"):
            continue
        table = f"{db}.`{name[:-len('.native')]}`"
        path = os.path.join(directory, name)
        for _ in range(2):
            s.query(f"INSERT INTO {table} SELECT * FROM file('{path}', Native)")
        final = int(str(s.query(f"SELECT count() FROM {table} FINAL", "CSV")).strip())
        raw = int(str(s.query(f"SELECT count() FROM {table}", "CSV")).strip())
        ms = str(s.query(f"SELECT toUnixTimestamp64Milli(min(conversation_start)) FROM {table}", "CSV")).strip()
        out[name[:-len(".native")]] = {"final": final, "raw": raw, "min_start_ms": int(ms)}
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "read":
        read(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
