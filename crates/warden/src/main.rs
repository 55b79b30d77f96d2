//! `warden`: the command-line entry point of the Warden agent.

mod agent;
mod events;
mod output;
mod session;
mod shell;
mod timing;
mod tree;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use output::Format;

/// jemalloc, not glibc's malloc: the agent's events are allocated by the pipeline thread and
/// freed by the store's writer thread, a pattern glibc serves badly (the freeing thread's
/// cache fills, chunks return to the allocating arena's bins, and the pipeline's next
/// allocations sort and consolidate them). Under 1,000 execs/s that was about a third of the
/// agent's CPU; jemalloc took 21 % off it, 39 % with events stored in binary (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts (its `malloc_conf`, under the crate's symbol
/// prefix). One arena for all threads: with one per thread, what one thread freed at start-up
/// was not reused by the others, and the agent's RSS peaked at 65 MB instead of 51–55 MB, for
/// no CPU difference measurable here (`_RJEM_MALLOC_CONF` in the environment overrides it).
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_OPTIONS: &[u8; 10] = b"narenas:1\0";

/// Warden: host-security telemetry for Linux — the system as SQL, process, file and network
/// activity as events.
#[derive(Parser)]
#[command(name = "warden", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one SQL statement (or several, separated by `;`) over the live system and print the rows.
    Query(QueryArgs),
    /// Interactive SQL shell over the live system, like osqueryi.
    Shell(ShellArgs),
    /// Run the agent in the foreground: record every process start, fork and exit into the
    /// event store until Ctrl-C or SIGTERM. No config file needed.
    Run(RunArgs),
    /// Print recorded events in time order, reduced like auditreduce (time, process, user,
    /// executable, class, path, port, address, outcome) as text, JSON lines or praudit-style
    /// XML; `--input` reduces a JSON-lines file instead of the store.
    Events(Box<events::EventsArgs>),
    /// Draw the process trees around the events a selection matches (the criteria of `warden
    /// events`): each matching process with its ancestry and everything it started since, each
    /// process with what it did.
    Tree(Box<tree::TreeArgs>),
    /// Show the running agent's sources, event rate, store size and losses. Exit status: 0
    /// running, 2 not running (its last status shown), 3 running but its status stale (it
    /// cannot write it), 1 no status to read.
    Status(StatusArgs),
    /// Undo what an agent killed before it could stop (SIGKILL, the OOM killer) left in the
    /// kernel: its audit rules, the audit settings it changed, its audit daemon slot. Refused
    /// while an agent runs. For a service manager's post-stop hook.
    Cleanup,
}

#[derive(Args)]
struct RunArgs {
    /// A TOML config file (see docs/warden.toml); embedded defaults without it.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct StatusArgs {
    /// The agent's data directory.
    #[arg(long, default_value = "/var/lib/warden")]
    data_dir: std::path::PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct QueryArgs {
    /// The SQL to run; read from standard input when absent.
    sql: Option<String>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct ShellArgs {
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct StoreArgs {
    /// The agent's data directory, whose event store backs process_events & co.
    #[arg(long, env = "WARDEN_DATA_DIR", default_value = "/var/lib/warden")]
    data_dir: std::path::PathBuf,
}

#[derive(Args, Clone, Copy)]
#[group(multiple = false)]
struct FormatArgs {
    /// Print rows as a JSON array of objects (as `osqueryi --json`).
    #[arg(long)]
    json: bool,
    /// Print rows as CSV with a header line.
    #[arg(long)]
    csv: bool,
    /// Print each column on its own line, `name = value`.
    #[arg(long)]
    line: bool,
}

impl FormatArgs {
    fn format(self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else if self.line {
            Format::Line
        } else {
            Format::Table
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `None`: success; a command with exit statuses of its own gives one.
    let result = match cli.command {
        Command::Query(args) => query(args).map(|()| None),
        Command::Shell(args) => {
            warden_tables::set_event_store_dir(&args.store.data_dir);
            shell::run(args.format.format()).map(|()| None)
        }
        Command::Run(args) => agent::run(args.config.as_deref()).map(|()| None),
        Command::Events(args) => events::run(*args).map(|()| None),
        Command::Tree(args) => tree::run(*args).map(|()| None),
        Command::Status(args) => status(args),
        Command::Cleanup => agent::cleanup::run().map(|()| None),
    };
    match result {
        Ok(Some(code)) => code,
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`warden query ... | head`) is not an error worth a message.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn query(args: QueryArgs) -> anyhow::Result<()> {
    let sql = match args.sql {
        Some(sql) => sql,
        None if std::io::stdin().is_terminal() => {
            anyhow::bail!("no SQL given: pass a statement, or pipe one on standard input")
        }
        None => {
            let mut sql = String::new();
            std::io::stdin().read_to_string(&mut sql)?;
            sql
        }
    };
    warden_tables::set_event_store_dir(&args.store.data_dir);
    let session = session::Session::open()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let format = args.format.format();
    session.run(&sql, |result| output::write(&mut out, format, result))?;
    out.flush()?;
    Ok(())
}

/// Prints the agent's status; its exit code says whether the agent runs and writes it.
fn status(args: StatusArgs) -> anyhow::Result<Option<ExitCode>> {
    use agent::status::Health;
    let status = agent::status::Status::read(&args.data_dir)?;
    let (now, alive) = (events::now_ns(), status.agent_alive());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.render(now, alive));
    }
    Ok(Some(match status.health(now, alive) {
        Health::Running => ExitCode::SUCCESS,
        Health::NotRunning => ExitCode::from(2),
        Health::Stale => ExitCode::from(3),
    }))
}
