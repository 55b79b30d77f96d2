//! The SQLite side of a table: one generic virtual-table module that serves any [`TableDef`],
//! turning SQLite's plan (constraints, IN lists, used columns) into a [`QueryContext`] and the
//! generator's rows into SQLite values. osquery's pushdown rules live here, once for all tables.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_int};
use std::sync::mpsc::Receiver;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConfig, VTabConnection,
    VTabCursor, sqlite3_vtab, sqlite3_vtab_cursor,
};
use rusqlite::{Error, ToSql};

use crate::context::{Constraint, Op, QueryContext};
use crate::registry::{Generate, TableDef};
use crate::row::{Rows, Value};

/// The module every table is registered with; the table it serves comes as its aux data.
pub(crate) const MODULE: Module<'static, SpecTable> = Module::eponymous_only_module();

/// Cost of a plan that leaves a required column unconstrained: high enough that SQLite picks
/// any plan that constrains it (osquery uses the same trick), and the scan then fails.
const COST_MISSING_REQUIRED: f64 = 1e12;
const COST_FULL_SCAN: f64 = 1e5;
const COST_KEYED: f64 = 10.0;

/// Marks a plan that constrains none of the table's required columns.
const PLAN_MISSING_REQUIRED: c_int = 1;

#[repr(C)]
pub(crate) struct SpecTable {
    base: sqlite3_vtab,
    def: TableDef,
    /// For each SQLite column number, the spec column that holds its value (aliases included).
    sql_to_spec: Vec<usize>,
}

unsafe impl<'vtab> VTab<'vtab> for SpecTable {
    type Aux = TableDef;
    type Cursor = SpecCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&TableDef>,
        _module: &[u8],
        _database: &[u8],
        _table: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
        let def =
            *aux.ok_or_else(|| Error::ModuleError("table registered without a spec".into()))?;
        db.config(VTabConfig::Innocuous)?;
        let sql =
            CString::new(def.spec.create_sql()).map_err(|e| Error::ModuleError(e.to_string()))?;
        let sql_to_spec = def.spec.sql_columns().into_iter().map(|(_, i)| i).collect();
        Ok((
            Cow::Owned(sql),
            SpecTable {
                base: sqlite3_vtab::default(),
                def,
                sql_to_spec,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
        let spec = self.def.spec;
        let mut plan = String::new();
        let mut argv = 0;
        let mut satisfied_required = !spec.has_required();
        let mut keyed = false;
        let pushed: Vec<(usize, usize, Op)> = info
            .constraints()
            .enumerate()
            .filter(|(_, c)| c.is_usable() && c.column() >= 0)
            .filter_map(|(i, c)| {
                let column = *self.sql_to_spec.get(c.column() as usize)?;
                let spec_column = &spec.columns[column];
                if !spec_column.flags.is_pushed_down() {
                    return None;
                }
                let op = match c.operator() {
                    IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ => Op::Eq,
                    IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LIKE => Op::Like,
                    IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GLOB => Op::Glob,
                    // osquery never pushes range operators on text columns.
                    op if spec_column.ty.is_integer() => match op {
                        IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GT => Op::Gt,
                        IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GE => Op::Ge,
                        IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LT => Op::Lt,
                        IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LE => Op::Le,
                        _ => return None,
                    },
                    _ => return None,
                };
                Some((i, column, op))
            })
            .collect();
        for (i, column, op) in pushed {
            argv += 1;
            info.constraint_usage(i).set_argv_index(argv);
            let all_at_once = op == Op::Eq && info.is_in_constraint(i)?;
            if all_at_once {
                info.set_in_constraint(i, true)?;
            }
            let spec_column = &spec.columns[column];
            if spec_column.required() && matches!(op, Op::Eq | Op::Like | Op::Glob) {
                satisfied_required = true;
            }
            if op == Op::Eq && (spec_column.index() || spec_column.required()) {
                keyed = true;
            }
            plan.push_str(&format!(
                "{column}{}{},",
                op.code(),
                if all_at_once { "*" } else { "" }
            ));
        }
        plan.push_str(&format!("|{:x}", info.col_used()));
        info.set_idx_str(&plan);
        if satisfied_required {
            info.set_idx_num(0);
            info.set_estimated_cost(if keyed { COST_KEYED } else { COST_FULL_SCAN });
        } else {
            info.set_idx_num(PLAN_MISSING_REQUIRED);
            info.set_estimated_cost(COST_MISSING_REQUIRED);
        }
        Ok(true)
    }

    fn open(&'vtab mut self) -> rusqlite::Result<SpecCursor<'vtab>> {
        Ok(SpecCursor {
            base: sqlite3_vtab_cursor::default(),
            table: self,
            rows: None,
            batches: None,
            row: 0,
            before: 0,
        })
    }
}

#[repr(C)]
pub(crate) struct SpecCursor<'vtab> {
    base: sqlite3_vtab_cursor,
    table: &'vtab SpecTable,
    /// The scan's rows (a streamed scan's current batch); None before the first scan.
    rows: Option<Rows>,
    /// A streamed scan's next batches, from the generator's thread; None when there are no
    /// more (or the scan was not streamed).
    batches: Option<Receiver<Result<Rows, String>>>,
    row: usize,
    /// Rows of the scan before the current batch (for `rowid`).
    before: usize,
}

impl SpecCursor<'_> {
    fn context(&self, idx_str: &str, args: &Filters<'_>) -> rusqlite::Result<QueryContext> {
        let spec = self.table.def.spec;
        let (plan, used) = idx_str
            .split_once('|')
            .unwrap_or((idx_str, "ffffffffffffffff"));
        let mut constraints = Vec::new();
        for (argv, item) in plan.split(',').filter(|s| !s.is_empty()).enumerate() {
            let all_at_once = item.ends_with('*');
            let item = item.trim_end_matches('*');
            let op_char = item.chars().last().unwrap_or('=');
            let op = Op::from_code(op_char)
                .ok_or_else(|| Error::ModuleError(format!("bad plan {idx_str}")))?;
            let column: usize = item[..item.len() - op_char.len_utf8()]
                .parse()
                .map_err(|_| Error::ModuleError(format!("bad plan {idx_str}")))?;
            let values = if all_at_once {
                use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
                let mut list = args.in_values(argv)?;
                let mut values = Vec::new();
                while let Some(v) = list.next()? {
                    values.push(value_from_sql(ValueRef::from(v)));
                }
                values
            } else {
                vec![args.get::<rusqlite::types::Value>(argv)?.into()]
            };
            constraints.push(Constraint { column, op, values });
        }
        let used_mask = u64::from_str_radix(used, 16).unwrap_or(u64::MAX);
        let mut used = vec![false; spec.columns.len()];
        for (sql_column, spec_column) in self.table.sql_to_spec.iter().enumerate() {
            let bit = sql_column.min(63);
            if used_mask & (1 << bit) != 0 {
                used[*spec_column] = true;
            }
        }
        Ok(QueryContext::new(spec, constraints, used))
    }
}

impl From<rusqlite::types::Value> for Value {
    fn from(v: rusqlite::types::Value) -> Value {
        use rusqlite::types::Value as Sql;
        match v {
            Sql::Null => Value::Null,
            Sql::Integer(i) => Value::Integer(i),
            Sql::Real(f) => Value::Real(f),
            Sql::Text(t) => Value::Text(t),
            Sql::Blob(b) => Value::Blob(b),
        }
    }
}

fn value_from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

unsafe impl VTabCursor for SpecCursor<'_> {
    fn filter(
        &mut self,
        idx_num: c_int,
        idx_str: Option<&str>,
        args: &Filters<'_>,
    ) -> rusqlite::Result<()> {
        let spec = self.table.def.spec;
        if idx_num == PLAN_MISSING_REQUIRED {
            return Err(Error::ModuleError(format!(
                "Table {} was queried without a required column in the WHERE clause",
                spec.name
            )));
        }
        let ctx = self.context(idx_str.unwrap_or(""), args)?;
        let generate = self.table.def.generate;
        self.before = 0;
        self.row = 0;
        // A keyed ask is small (and a join's asks share state on this thread): made here.
        let keyed = ctx
            .constraints()
            .iter()
            .any(|c| c.op == Op::Eq && spec.columns[c.column].index());
        if self.table.def.streamed && !keyed {
            self.batches = Some(stream(ctx, generate));
            self.rows = None;
            return self.next_batch();
        }
        self.batches = None;
        // A generator bug must cost one query, not the process: a panic must not unwind into
        // SQLite's C frames (that aborts), so it becomes this scan's error.
        let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut rows = Rows::for_query(&ctx);
            generate(&ctx, &mut rows).map(|()| rows)
        }));
        let rows = match generated {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return Err(Error::ModuleError(format!("{}: {e}", spec.name))),
            Err(panic) => {
                return Err(Error::ModuleError(format!(
                    "{}: internal error in the table generator: {}",
                    spec.name,
                    panic_text(panic.as_ref())
                )));
            }
        };
        self.rows = Some(rows);
        Ok(())
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        self.row += 1;
        if self.row >= self.rows.as_ref().map_or(0, Rows::len) {
            self.next_batch()?;
        }
        Ok(())
    }

    fn eof(&self) -> bool {
        self.row >= self.rows.as_ref().map_or(0, Rows::len)
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        let column = self.table.sql_to_spec[i as usize];
        let spec_column = &self.table.def.spec.columns[column];
        let Some(rows) = &self.rows else {
            return Err(Error::ModuleError("column read before a scan".into()));
        };
        let value = rows.cell(self.row, column);
        // Most cells already have their column's type: hand them over without a copy.
        match value.coerced(spec_column.ty) {
            Some(converted) => ctx.set_result(&converted),
            None => ctx.set_result(value),
        }
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        Ok((self.before + self.row) as i64)
    }
}

impl SpecCursor<'_> {
    /// Moves a streamed scan on to its next non-empty batch, or to its end; nothing for a
    /// scan made whole.
    fn next_batch(&mut self) -> rusqlite::Result<()> {
        let Some(batches) = &self.batches else {
            return Ok(());
        };
        let spec = self.table.def.spec;
        loop {
            match batches.recv() {
                Ok(Ok(batch)) if batch.is_empty() => continue,
                Ok(Ok(batch)) => {
                    self.before += self.rows.as_ref().map_or(0, Rows::len);
                    self.rows = Some(batch);
                    self.row = 0;
                    return Ok(());
                }
                Ok(Err(e)) => {
                    self.batches = None;
                    return Err(Error::ModuleError(format!("{}: {e}", spec.name)));
                }
                // The generator is done (its sender dropped).
                Err(_) => {
                    self.batches = None;
                    self.before += self.rows.as_ref().map_or(0, Rows::len);
                    self.rows = None;
                    self.row = 0;
                    return Ok(());
                }
            }
        }
    }
}

/// Runs `generate` for `ctx` on a thread of its own, its rows coming back in batches as it
/// makes them (at most two batches ahead of the reader), its error or panic as the last item.
fn stream(ctx: QueryContext, generate: Generate) -> Receiver<Result<Rows, String>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Rows, String>>(2);
    let name = ctx.spec().name;
    let outcome_tx = tx.clone();
    let scan_outcome = tx.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("scan {name}"))
        .spawn(move || {
            let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut rows = Rows::streaming(&ctx, tx);
                generate(&ctx, &mut rows).map(|()| rows.finish())
            }));
            let failed = match generated {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(panic) => format!(
                    "internal error in the table generator: {}",
                    panic_text(panic.as_ref())
                ),
            };
            let _ = scan_outcome.send(Err(failed));
        });
    if let Err(e) = spawned {
        let _ = outcome_tx.send(Err(format!("cannot start a thread for the scan: {e}")));
    }
    rx
}

/// What a panic said.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown cause")
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Integer(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}
