"""The agent's event store for the benchmark scripts' helpers (scripts/bench-exec,
scripts/bench-activity), read through `warden query` (the store keeps events in blocks;
its `warden_events` table gives them row by row). WARDEN names the binary."""

import json
import os
import sqlite3
import subprocess

COLUMNS = ("seq, time_ns, class, action, entity_id, parent_entity_id, pid, ppid, uid, exe, path, "
           "old_path, success, local_address, local_port, remote_address, remote_port")
# `--json` writes every value as a string, NULL as "" (as osqueryi does).
INTEGERS = {"seq", "time_ns", "pid", "ppid", "uid", "success", "local_port", "remote_port"}


def query(db, sql):
    """The rows of `sql` over the store whose database is `db`, as `warden query --json` gives them."""
    out = subprocess.run([os.environ["WARDEN"], "query", "--data-dir", os.path.dirname(db), "--json", sql],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def store(db):
    """Every event of the store as an in-memory SQLite table `events` with the store's fields."""
    names = [c.strip() for c in COLUMNS.split(",")]
    value = lambda n, v: None if v in ("", None) else int(v) if n in INTEGERS else v
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE TABLE events ({COLUMNS})")
    con.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(names))})",
                    [tuple(value(n, r.get(n)) for n in names)
                     for r in query(db, f"SELECT {COLUMNS} FROM warden_events")])
    return con


def store_count(db, where):
    """count(*) of the store's events matching `where`, counted by `warden query` itself: a
    drain polls this, and loading every row into Python each time would compete with the agent."""
    return int(query(db, f"SELECT count(*) AS n FROM warden_events WHERE {where}")[0]["n"])
