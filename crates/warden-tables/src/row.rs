//! Values and rows as generators produce them, before SQLite sees them.

use crate::QueryContext;
use crate::spec::{ColumnType, TableSpec};

/// One cell. Generators may set any variant; [`Value::coerce`] applies the column's declared type
/// the way osquery does (a non-numeric value in a numeric column becomes NULL).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The value as its column's declared type makes it.
    pub fn coerce(&self, ty: ColumnType) -> Value {
        self.coerced(ty).unwrap_or_else(|| self.clone())
    }

    /// The converted value when the column's type changes it, `None` when it stays as it is.
    pub fn coerced(&self, ty: ColumnType) -> Option<Value> {
        Some(match (self, ty) {
            (Value::Text(s), t) if t.is_integer() => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<u64>().ok().map(|u| u as i64))
                    .map_or(Value::Null, Value::Integer)
            }
            (Value::Text(s), ColumnType::Double) => {
                s.trim().parse::<f64>().map_or(Value::Null, Value::Real)
            }
            (Value::Real(f), t) if t.is_integer() => Value::Integer(*f as i64),
            (Value::Integer(i), ColumnType::Double) => Value::Real(*i as f64),
            (Value::Integer(i), ColumnType::Text | ColumnType::Datetime) => {
                Value::Text(i.to_string())
            }
            (Value::Real(f), ColumnType::Text | ColumnType::Datetime) => Value::Text(f.to_string()),
            _ => return None,
        })
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            Value::Real(f) => Some(*f as i64),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Integer(i) => Some(i.to_string()),
            Value::Real(f) => Some(f.to_string()),
            Value::Text(s) => Some(s.clone()),
            Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::Integer(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Integer(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Real(f64::from(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The rows one generator call produces. Only the columns the query reads are kept (a scan
/// of millions of events holds what is asked of it, not a NULL for every other column): each
/// row has one cell per kept column, and a cell never set is NULL.
#[derive(Debug)]
pub struct Rows {
    spec: &'static TableSpec,
    rows: Vec<Vec<Value>>,
    /// Per spec column, its place in a row; None: not kept (what is set there is dropped).
    slots: Vec<Option<usize>>,
    width: usize,
    /// Streaming: full batches go here as the generator makes them (see [`Rows::streaming`]).
    sink: Option<std::sync::mpsc::SyncSender<Result<Rows, String>>>,
}

/// Rows per batch handed over by a streamed scan.
const BATCH: usize = 4096;

thread_local! {
    /// Whether the reader of this thread's streamed scan is gone (the query ended early, a
    /// `LIMIT`): a generator that makes many rows stops at [`consumer_gone`].
    static CONSUMER_GONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether nobody reads the rows this thread's generator makes any more: it may stop.
pub fn consumer_gone() -> bool {
    CONSUMER_GONE.with(std::cell::Cell::get)
}

impl Rows {
    /// Rows keeping every column.
    pub fn new(spec: &'static TableSpec) -> Rows {
        Rows::keeping(spec, &vec![true; spec.columns.len()])
    }

    /// Rows for the query `ctx`: only the columns it reads are kept.
    pub fn for_query(ctx: &QueryContext) -> Rows {
        Rows::keeping(ctx.spec(), ctx.used_columns())
    }

    fn keeping(spec: &'static TableSpec, used: &[bool]) -> Rows {
        let mut width = 0;
        let slots = (0..spec.columns.len())
            .map(|i| {
                used.get(i).copied().unwrap_or(true).then(|| {
                    width += 1;
                    width - 1
                })
            })
            .collect();
        Rows {
            spec,
            rows: Vec::new(),
            slots,
            width,
            sink: None,
        }
    }

    /// Rows for the query `ctx` that hand each full batch to `sink` as it is made (the
    /// generator runs on a thread of its own); [`Rows::finish`] hands the rest. Once the
    /// receiver is gone, rows are dropped and [`consumer_gone`] says so.
    pub fn streaming(
        ctx: &QueryContext,
        sink: std::sync::mpsc::SyncSender<Result<Rows, String>>,
    ) -> Rows {
        CONSUMER_GONE.with(|gone| gone.set(false));
        Rows {
            sink: Some(sink),
            ..Rows::for_query(ctx)
        }
    }

    /// Hands the rows not yet handed over to the sink (a streamed scan's end).
    pub fn finish(mut self) {
        self.hand_over();
    }

    fn hand_over(&mut self) {
        let Some(sink) = &self.sink else {
            return;
        };
        let batch = Rows {
            spec: self.spec,
            rows: std::mem::take(&mut self.rows),
            slots: self.slots.clone(),
            width: self.width,
            sink: None,
        };
        if sink.send(Ok(batch)).is_err() {
            CONSUMER_GONE.with(|gone| gone.set(true));
        }
    }

    /// Appends a row of NULLs and returns a writer to fill it by column name.
    pub fn push(&mut self) -> RowWriter<'_> {
        if self.sink.is_some() && self.rows.len() >= BATCH {
            self.hand_over();
        }
        self.rows.push(vec![Value::Null; self.width]);
        let cells = self.rows.last_mut().expect("row just pushed");
        RowWriter {
            spec: self.spec,
            cells,
            slots: &self.slots,
        }
    }

    /// Appends a copy of row `row` of `other`, rows of the same table kept alike (a memoized
    /// scan of the same query).
    pub fn push_copy(&mut self, other: &Rows, row: usize) {
        debug_assert_eq!(self.slots, other.slots, "{}", self.spec.name);
        self.rows.push(other.rows[row].clone());
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The cell of spec column `column` in row `row`: NULL when the column is not kept.
    pub fn cell(&self, row: usize, column: usize) -> &Value {
        const NULL: &Value = &Value::Null;
        match self.slots.get(column).copied().flatten() {
            Some(slot) => &self.rows[row][slot],
            None => NULL,
        }
    }

    /// The value of a column in one row, by name (for tests and derived tables).
    pub fn get(&self, row: usize, column: &str) -> Option<&Value> {
        let i = self.spec.column_index(column)?;
        (row < self.rows.len()).then(|| self.cell(row, i))
    }
}

/// Fills one row; `set` takes the column's osquery name.
pub struct RowWriter<'a> {
    spec: &'static TableSpec,
    cells: &'a mut Vec<Value>,
    slots: &'a [Option<usize>],
}

impl RowWriter<'_> {
    /// Sets a column (a column the query does not read is dropped). An unknown column name is
    /// a programming error: it panics in debug builds (tests catch it) and is ignored in
    /// release builds.
    pub fn set(&mut self, column: &str, value: impl Into<Value>) -> &mut Self {
        match self.spec.column_index(column) {
            Some(i) => {
                if let Some(slot) = self.slots[i] {
                    self.cells[slot] = value.into();
                }
            }
            None => debug_assert!(false, "table {} has no column {column}", self.spec.name),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_columns_turn_non_numbers_into_null() {
        assert_eq!(
            Value::from("42").coerce(ColumnType::BigInt),
            Value::Integer(42)
        );
        assert_eq!(Value::from("").coerce(ColumnType::Integer), Value::Null);
        assert_eq!(Value::from("x1").coerce(ColumnType::Integer), Value::Null);
        assert_eq!(
            Value::from(7_i32).coerce(ColumnType::Text),
            Value::Text("7".into())
        );
        assert_eq!(
            Value::from("1.5").coerce(ColumnType::Double),
            Value::Real(1.5)
        );
    }

    #[test]
    fn rows_are_filled_by_column_name() {
        let spec = crate::spec::osquery_spec("uptime").unwrap();
        let mut rows = Rows::new(spec);
        rows.push().set("days", 1).set("total_seconds", 90000_u64);
        assert_eq!(rows.get(0, "days"), Some(&Value::Integer(1)));
        assert_eq!(rows.get(0, "hours"), Some(&Value::Null));
    }

    #[test]
    fn rows_for_a_query_keep_only_the_columns_it_reads() {
        let spec = crate::spec::osquery_spec("uptime").unwrap();
        let ctx = QueryContext::everything(spec).using(&["hours", "total_seconds"]);
        let mut rows = Rows::for_query(&ctx);
        rows.push()
            .set("days", 1)
            .set("hours", 2)
            .set("total_seconds", 7_200_u64);
        assert_eq!(rows.width, 2, "a cell per column read");
        assert_eq!(rows.get(0, "hours"), Some(&Value::Integer(2)));
        assert_eq!(rows.get(0, "total_seconds"), Some(&Value::Integer(7_200)));
        assert_eq!(rows.get(0, "days"), Some(&Value::Null), "not read: dropped");
        assert_eq!(rows.get(1, "hours"), None, "no such row");
        // A copy between rows kept alike.
        let mut copy = Rows::for_query(&ctx);
        copy.push_copy(&rows, 0);
        let column = spec.column_index("hours").unwrap();
        assert_eq!(copy.cell(0, column), &Value::Integer(2));
    }
}
