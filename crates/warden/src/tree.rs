//! `warden tree`: the process trees around the events a selection matches (the same criteria
//! as `warden events`), drawn as text or written as JSON lines, from the store or from a
//! JSON-lines file. The forest itself is built without IO ([`forest`]); this module gives it
//! its events and the live host's /proc.

mod draw;
mod forest;

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use warden_sources::procfs;
use warden_store::{EventFilter, StoredEvent};

use crate::events::select::{ClassSelector, ClassTerm};
use crate::events::{Selection, filter_of, input, now_ns, open_input};
use forest::{Lookup, Reach, Running};

#[derive(Args, Debug)]
pub struct TreeArgs {
    #[command(flatten)]
    select: Selection,
    /// Draw each matching process's tree from this many generations above it: 1 also shows
    /// its parent's other children (what the same shell ran before and after it).
    #[arg(long, default_value_t = 0)]
    up: usize,
    /// At most this many matching processes: those with the most recent matches.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// At most this many processes in all; further descendants are left out, and said so.
    #[arg(long, default_value_t = 1000)]
    max_processes: usize,
    /// At most this many generations below each matching process (with --up, below its
    /// siblings and cousins too).
    #[arg(long)]
    depth: Option<usize>,
    /// List only these events under each process (the words of --class: `--show nt,fw`);
    /// its execs and those the selection matches are listed anyway.
    #[arg(long, value_delimiter = ',', value_name = "CLASS")]
    show: Vec<ClassTerm>,
    /// Events listed per process, besides those the selection matches (always listed, marked
    /// `*`); the rest are counted by action.
    #[arg(long, default_value_t = 20)]
    events: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: TreeFormat,
    /// Build the trees from this JSON-lines file (as `warden run` or `warden events --format
    /// json` wrote it; `-` for standard input) instead of the store. It is read whole into
    /// memory (a tree asks it once per generation); reduce a large one with `warden events
    /// --input` first.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// The agent's data directory (where events.db is).
    #[arg(long, default_value = "/var/lib/warden")]
    data_dir: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TreeFormat {
    /// Indented text: a process per line under its parent, its events under it.
    Text,
    /// One JSON object per process, in the text's order, with its depth and its events (ECS).
    Json,
}

pub fn run(args: TreeArgs) -> anyhow::Result<()> {
    let now = now_ns();
    let mut selection = filter_of(&args.select, now)?;
    anyhow::ensure!(
        selection != filter_of(&Selection::default(), now)?,
        "say which processes the trees are about: --entity, --pid, --exe, --path, --class, \
         --port, --addr, --user, --failure or a time range, as for `warden events`"
    );
    // `--entity` chooses that process; its children are in its tree anyway.
    selection.match_parent_entity = false;
    let shown = ClassSelector::new(&args.show);
    anyhow::ensure!(
        !shown.is_empty(),
        "--show lists no event at all: every class it names is also taken away"
    );
    let reach = Reach {
        up: args.up,
        matches: args.limit.max(1),
        processes: args.max_processes.max(1),
        depth: args.depth,
        events: args.events,
        shown: EventFilter {
            kinds: shown.filter_kinds(),
            ..EventFilter::default()
        },
    };
    let forest = match &args.input {
        Some(path) => {
            let mut lookup = FileLookup::read(path)?;
            forest::build(&mut lookup, &selection, reach)?
        }
        None => {
            let reader = warden_store::Store::reader(&args.data_dir).with_context(|| {
                format!(
                    "no event store in {} (is `warden run` recording there? see --data-dir)",
                    args.data_dir.display()
                )
            })?;
            forest::build(&mut StoreLookup { reader }, &selection, reach)?
        }
    };
    anyhow::ensure!(!forest.nodes.is_empty(), "no event matches");
    let drawing = draw::Drawing {
        forest: &forest,
        selection: &selection,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        TreeFormat::Text => {
            writeln!(out, "{}", drawing.header())?;
            drawing.text(&mut out)?;
        }
        TreeFormat::Json => drawing.json(&mut out)?,
    }
    out.flush()?;
    Ok(())
}

/// The store, and /proc for the processes it does not describe.
struct StoreLookup {
    reader: warden_store::Reader,
}

impl Lookup for StoreLookup {
    fn visit(
        &mut self,
        filter: &EventFilter,
        each: &mut dyn FnMut(StoredEvent),
    ) -> anyhow::Result<()> {
        for row in self.reader.query(filter) {
            match row {
                Ok(row) => each(row.event),
                // A damaged block: said, and the rest is still used.
                Err(e @ warden_store::StoreError::CorruptBlock { .. }) => {
                    eprintln!("warden tree: {e}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn running(&mut self, entity_id: &str) -> Option<Running> {
        running_process(entity_id)
    }
}

/// The process `entity_id` names, if it is still running on this boot.
fn running_process(entity_id: &str) -> Option<Running> {
    let mut parts = entity_id.split('-');
    let (boot, pid, ticks) = (parts.next()?, parts.next()?, parts.next()?);
    let (pid, ticks): (u32, u64) = (pid.parse().ok()?, ticks.parse().ok()?);
    let this_boot = procfs::boot_id().ok()?;
    if !this_boot.starts_with(boot) || boot.is_empty() {
        return None;
    }
    let process = procfs::read_process(pid).ok()?;
    if process.start_ticks != ticks {
        return None;
    }
    let args: Vec<std::borrow::Cow<'_, str>> = process
        .cmdline
        .iter()
        .map(|a| String::from_utf8_lossy(a))
        .collect();
    let parent = (process.ppid != 0)
        .then(|| procfs::start_ticks(process.ppid))
        .flatten()
        .map(|parent_ticks| format!("{boot}-{}-{parent_ticks}", process.ppid));
    let user = warden_tables::sys::passwd()
        .into_iter()
        .find(|p| p.uid == process.uid)
        .map_or_else(|| process.uid.to_string(), |p| p.username);
    Some(Running {
        pid: i64::from(pid),
        command_line: (!args.is_empty()).then(|| warden_core::command_line(&args)),
        exe: process
            .exe
            .map(|exe| String::from_utf8_lossy(&exe).into_owned()),
        user: Some(user),
        parent,
    })
}

/// A JSON-lines file, read once and kept: another host's events, or this host's of another
/// time, so /proc is not asked.
struct FileLookup {
    events: Vec<StoredEvent>,
}

impl FileLookup {
    fn read(path: &std::path::Path) -> anyhow::Result<FileLookup> {
        let mut events = Vec::new();
        let skipped = input::read_events(open_input(path)?, |event| {
            events.push(event);
            Ok(())
        })?;
        if let Some(note) = skipped.report() {
            eprintln!("warden tree: {}: {note}", path.display());
        }
        Ok(FileLookup { events })
    }
}

impl Lookup for FileLookup {
    fn visit(
        &mut self,
        filter: &EventFilter,
        each: &mut dyn FnMut(StoredEvent),
    ) -> anyhow::Result<()> {
        self.events
            .iter()
            .filter(|e| filter.matches(e))
            .for_each(|e| each(e.clone()));
        Ok(())
    }

    fn running(&mut self, _entity_id: &str) -> Option<Running> {
        None
    }
}
