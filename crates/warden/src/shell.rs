//! `warden shell`: an interactive SQL shell like osqueryi, with line editing, history,
//! completion of table and column names, dot commands and optional timing.

use std::borrow::Cow;
use std::io::Write;
use std::time::Instant;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::output::{self, Format};
use crate::session::Session;

const HELP: &str = "\
Enter SQL ending with ';' (it may span lines), or a dot command:
  .all TABLE        SELECT * FROM TABLE
  .help             this text
  .mode [MODE]      show or set the output mode: table, json, csv, line
  .quit / .exit     leave the shell (also Ctrl-D)
  .schema [TABLE]   CREATE TABLE statements of every table, or of one
  .tables [TEXT]    table names, or those containing TEXT
  .timer on|off     print each statement's wall time
Tab completes table names, column names, dot commands and SQL keywords.";

const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "JOIN", "LEFT", "USING", "ON", "GROUP", "BY", "ORDER", "LIMIT",
    "AND", "OR", "NOT", "IN", "LIKE", "GLOB", "AS", "DISTINCT", "COUNT", "HAVING", "UNION", "DESC",
    "ASC", "IS", "NULL", "WITH", "CASE", "WHEN", "THEN", "ELSE", "END",
];
const DOT_COMMANDS: &[&str] = &[
    ".all", ".exit", ".help", ".mode", ".quit", ".schema", ".tables", ".timer",
];

struct ShellState {
    format: Format,
    timer: bool,
}

pub fn run(format: Format) -> anyhow::Result<()> {
    let session = Session::open()?;
    let mut editor: Editor<SqlHelper, rustyline::history::DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(SqlHelper::new()));
    let history =
        std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".warden_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        println!(
            "Warden {} SQL shell. \".help\" for usage; tables: \".tables\".",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut state = ShellState {
        format,
        timer: false,
    };
    loop {
        let line = match editor.readline("warden> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(input);
        let keep_going = if input.starts_with('.') {
            dot_command(&session, &mut state, input)
        } else {
            statement(&session, &state, input);
            true
        };
        if !keep_going {
            break;
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

fn statement(session: &Session, state: &ShellState, sql: &str) {
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = session.run(sql, |r| output::write(&mut out, state.format, r));
    let _ = out.flush();
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
    }
    if state.timer {
        println!("Run Time: {:.3} s", started.elapsed().as_secs_f64());
    }
}

/// Runs a dot command; returns false when the shell should end.
fn dot_command(session: &Session, state: &mut ShellState, input: &str) -> bool {
    let mut words = input.split_whitespace();
    let command = words.next().unwrap_or_default();
    let arg = words.next();
    match command {
        ".quit" | ".exit" => return false,
        ".help" => println!("{HELP}"),
        ".tables" => {
            for name in warden_tables::table_names() {
                if arg.is_none_or(|a| name.contains(a)) {
                    println!("  => {name}");
                }
            }
        }
        ".schema" => {
            let mut found = false;
            for def in warden_tables::tables() {
                if arg.is_none_or(|a| a == def.spec.name || def.spec.aliases.contains(&a)) {
                    println!("{};", def.spec.create_sql());
                    found = true;
                }
            }
            if !found {
                let near = crate::session::nearest_tables(arg.unwrap_or_default());
                eprintln!(
                    "Error: no such table: {}{}",
                    arg.unwrap_or_default(),
                    if near.is_empty() {
                        String::new()
                    } else {
                        format!(" (did you mean {}?)", near.join(", "))
                    }
                );
            }
        }
        ".mode" => match arg {
            None => println!("current output mode: {}", state.format.name()),
            Some(name) => match Format::parse(name) {
                Some(format) => state.format = format,
                None => eprintln!("Error: unknown mode {name}: use table, json, csv or line"),
            },
        },
        ".timer" => match arg {
            Some("on") => state.timer = true,
            Some("off") => state.timer = false,
            _ => eprintln!("Error: usage: .timer on|off"),
        },
        ".all" => match arg {
            Some(table) => statement(session, state, &format!("SELECT * FROM \"{table}\"")),
            None => eprintln!("Error: usage: .all TABLE"),
        },
        other => eprintln!("Error: unknown command {other}: \".help\" lists the commands"),
    }
    true
}

/// Line editing support: completion of names, multi-line statements until `;`.
struct SqlHelper {
    /// Table names, then every column name, for completion.
    tables: Vec<&'static str>,
    columns: Vec<&'static str>,
}

impl SqlHelper {
    fn new() -> SqlHelper {
        let mut columns: Vec<&'static str> = warden_tables::tables()
            .iter()
            .flat_map(|t| t.spec.columns.iter().map(|c| c.name))
            .collect();
        columns.sort_unstable();
        columns.dedup();
        SqlHelper {
            tables: warden_tables::table_names(),
            columns,
        }
    }
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let pair = |s: &str| Pair {
            display: s.to_string(),
            replacement: s.to_string(),
        };
        let mut out: Vec<Pair> = Vec::new();
        if word.starts_with('.') && start == 0 {
            out.extend(
                DOT_COMMANDS
                    .iter()
                    .filter(|c| c.starts_with(word))
                    .map(|c| pair(c)),
            );
        } else {
            let lower = word.to_ascii_lowercase();
            out.extend(
                self.tables
                    .iter()
                    .filter(|t| t.starts_with(&lower))
                    .map(|t| pair(t)),
            );
            out.extend(
                self.columns
                    .iter()
                    .filter(|c| c.starts_with(&lower))
                    .map(|c| pair(c)),
            );
            let upper = word.to_ascii_uppercase();
            out.extend(
                KEYWORDS
                    .iter()
                    .filter(|k| k.starts_with(&upper))
                    .map(|k| pair(k)),
            );
            out.dedup_by(|a, b| a.replacement == b.replacement);
        }
        Ok((start, out))
    }
}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input().trim();
        if input.is_empty() || input.starts_with('.') || input.ends_with(';') {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Helper for SqlHelper {}
