//! `warden tree`: the process trees around chosen events. Each process the selection matches is
//! shown with its ancestry, up to the first process that neither the records nor /proc can
//! name, and with everything it started since, each process with what it did. So that
//! "document → shell → curl → new binary → reads ~/.ssh → connects out" reads at a glance.
//!
//! The forest is built here, without IO, from the events one seam gives ([`Lookup`]): the store,
//! or a JSON-lines file read again for each ask. It takes one ask per generation, up the
//! ancestry and then down the descendants, each ask naming the processes by identity (the
//! store skips the blocks that cannot hold them).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use warden_store::{EventFilter, StoredEvent};

/// Where the events come from.
pub trait Lookup {
    /// Gives `each` the events `filter` accepts, in any order.
    fn visit(
        &mut self,
        filter: &EventFilter,
        each: &mut dyn FnMut(StoredEvent),
    ) -> anyhow::Result<()>;

    /// The events `filter` accepts, in time order.
    fn events(&mut self, filter: &EventFilter) -> anyhow::Result<Vec<StoredEvent>> {
        let mut events = Vec::new();
        self.visit(filter, &mut |e| events.push(e))?;
        events.sort_by_key(|e| e.time_ns);
        Ok(events)
    }

    /// A process the records do not describe, as /proc does while it runs (`None` when it
    /// has exited, belongs to another boot, or there is no live host to ask).
    fn running(&mut self, entity_id: &str) -> Option<Running>;
}

/// A running process, as /proc names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Running {
    pub pid: i64,
    pub command_line: Option<String>,
    pub exe: Option<String>,
    /// Its user's name (or uid).
    pub user: Option<String>,
    /// Its parent's identity.
    pub parent: Option<String>,
}

/// How far the forest reaches, and what it keeps of each process's events.
#[derive(Clone, Debug)]
pub struct Reach {
    /// Show each matching process's tree from this many generations above it: 1 shows its
    /// parent's other children too.
    pub up: usize,
    /// At most this many matching processes, the most recent.
    pub matches: usize,
    /// At most this many processes in all; the descendants past it are left out.
    pub processes: usize,
    /// At most this many generations below each matching process (None: all); with `up`,
    /// that many more below where its tree starts.
    pub depth: Option<usize>,
    /// Events kept per process besides its execs and those the selection matches; the rest
    /// are counted by action. A busy process has millions: they are not all held.
    pub events: usize,
    /// Which of a process's events are kept or counted at all (`--show`).
    pub shown: EventFilter,
}

/// Where a process's description comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Its own events.
    Recorded,
    /// /proc, while it runs (it started before the records, or they were pruned).
    Running,
    /// Only what a child's exec said of its parent.
    FromChild,
    /// Nothing but its identity.
    Unknown,
}

/// One process of the forest.
#[derive(Clone, Debug)]
pub struct Node {
    pub entity_id: String,
    pub parent: Option<String>,
    pub pid: i64,
    pub known: Known,
    /// The command line of its last exec, or its image when it only forked.
    pub command_line: Option<String>,
    pub exe: Option<String>,
    pub user: Option<String>,
    pub start_ns: Option<i64>,
    /// When it exited, with its code or signal.
    pub exit: Option<Exit>,
    /// What its last exec said of the file it ran.
    pub image: Option<Image>,
    /// Whether a selected event is its own.
    pub matched: bool,
    /// Whether its own events are shown (a matching process and its descendants), or only the
    /// process (an ancestor).
    pub shown_in_full: bool,
    /// The events kept to list, in time order: its execs, those the selection matches, and
    /// the first of the others ([`Reach::events`]); never fork and exit (the node tells them).
    pub events: Vec<StoredEvent>,
    /// The events not kept, by action.
    pub more: BTreeMap<String, usize>,
    /// Events kept under the bound.
    kept: usize,
    /// What its child's exec said of it: executable and command line.
    parent_seen_by_child: Option<(Option<String>, Option<String>)>,
}

/// The file a process runs, as its exec described it (what tells an unknown binary apart).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    pub sha256: Option<String>,
    /// The Debian package that owns it; None when none does.
    pub package: Option<String>,
    /// Whether its digest is the package's (false: changed since installed).
    pub package_verified: Option<bool>,
    /// Where it was downloaded from (`user.xdg.origin.url`).
    pub origin_url: Option<String>,
    /// The script its interpreter runs, when the exec named one (`#!`): its path, and what
    /// the exec said of it.
    pub script: Option<(String, Box<Image>)>,
}

impl Image {
    /// The facts an exec's JSON gives of a file: its image's (`process.hash`,
    /// `warden.executable`) or its script's (`warden.script`).
    fn of(sha256: &Value, facts: &Value) -> Image {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        Image {
            sha256: text(sha256),
            package: text(&facts["package"]),
            package_verified: facts["package_verified"].as_bool(),
            origin_url: text(&facts["origin_url"]),
            script: None,
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub time_ns: i64,
    pub code: Option<i64>,
    pub signal: Option<i64>,
}

/// The processes around the selected events, linked parent to child.
#[derive(Debug, Default)]
pub struct Forest {
    pub nodes: HashMap<String, Node>,
    /// The topmost processes, oldest first.
    pub roots: Vec<String>,
    /// Each process's children, oldest first.
    pub children: HashMap<String, Vec<String>>,
    /// What was left out, said to the reader.
    pub notes: Vec<String>,
}

impl Node {
    fn new(entity_id: &str) -> Node {
        Node {
            entity_id: entity_id.to_owned(),
            parent: None,
            pid: pid_of_entity(entity_id).unwrap_or(0),
            known: Known::Unknown,
            command_line: None,
            exe: None,
            user: None,
            start_ns: None,
            exit: None,
            image: None,
            matched: false,
            shown_in_full: false,
            events: Vec::new(),
            more: BTreeMap::new(),
            kept: 0,
            parent_seen_by_child: None,
        }
    }

    /// Learns what `event` (one of its own) says about the process.
    fn learn(&mut self, event: &StoredEvent, ecs: &Value) {
        self.known = Known::Recorded;
        self.pid = event.pid;
        if self.parent.is_none() {
            self.parent.clone_from(&event.parent_entity_id);
        }
        let process = &ecs["process"];
        if self.start_ns.is_none() {
            self.start_ns = process["start"]
                .as_str()
                .and_then(warden_core::parse_rfc3339_ns);
        }
        if self.user.is_none() {
            self.user = ecs["user"]["name"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| event.uid.map(|uid| uid.to_string()));
        }
        let command_line = process["command_line"].as_str().map(str::to_owned);
        match event.class.as_str() {
            // The last exec names the process; a later one replaces an earlier one.
            "exec" if event.success != Some(false) => {
                self.exe.clone_from(&event.exe);
                self.command_line = command_line;
                let script = &ecs["warden"]["script"];
                self.image = Some(Image {
                    script: script["path"].as_str().map(|path| {
                        let image = Image::of(&script["hash"]["sha256"], script);
                        (path.to_owned(), Box::new(image))
                    }),
                    ..Image::of(&process["hash"]["sha256"], &ecs["warden"]["executable"])
                });
                self.user = ecs["user"]["name"]
                    .as_str()
                    .map(str::to_owned)
                    .or(self.user.take());
                // What the parent ran when this exec happened: the latest word on it.
                self.parent_seen_by_child =
                    parent_as_seen(&process["parent"]).or(self.parent_seen_by_child.take());
            }
            // Any other event names the image it ran, until an exec says better.
            other => {
                match other {
                    // The fork's own time: `process.start` counts in clock ticks (10 ms).
                    "fork" => self.start_ns = Some(event.time_ns),
                    "exit" => {
                        self.exit = Some(Exit {
                            time_ns: event.time_ns,
                            code: process["exit_code"].as_i64(),
                            signal: ecs["warden"]["signal"].as_i64(),
                        })
                    }
                    _ => {}
                }
                if self.exe.is_none() {
                    self.exe.clone_from(&event.exe);
                }
                if self.command_line.is_none() {
                    self.command_line = command_line;
                }
                if self.parent_seen_by_child.is_none() {
                    self.parent_seen_by_child = parent_as_seen(&process["parent"]);
                }
            }
        }
    }

    /// Takes one of its own events, as a generation's ask streams them: learns from it, and
    /// keeps it to list or counts it (see [`Node::events`]).
    fn take(&mut self, event: StoredEvent, selection: &EventFilter, reach: &Reach) {
        // ECS is written only for what can still teach something: a busy process's thousands
        // of file events cost no JSON once its line is known.
        let teaches = matches!(event.class.as_str(), "exec" | "fork" | "exit")
            || self.command_line.is_none()
            || self.start_ns.is_none()
            || self.user.is_none()
            || self.parent_seen_by_child.is_none();
        if teaches {
            self.learn(&event, &event.ecs().unwrap_or(Value::Null));
        }
        match event.class.as_str() {
            "fork" | "exit" => {}
            "exec" if event.success != Some(false) => self.events.push(event),
            _ if selection.matches(&event) => self.events.push(event),
            _ if !reach.shown.matches(&event) => {}
            _ if self.kept < reach.events => {
                self.kept += 1;
                self.events.push(event);
            }
            _ => *self.more.entry(event.action).or_default() += 1,
        }
    }

    /// The exec that names the process: its last successful one.
    fn naming_exec(&self) -> Option<usize> {
        self.events
            .iter()
            .rposition(|e| e.class == "exec" && e.success != Some(false))
    }

    /// The events to list under the process: all but the exec its line already shows.
    pub fn listed_events(&self) -> impl Iterator<Item = &StoredEvent> {
        let naming = self.naming_exec();
        self.events
            .iter()
            .enumerate()
            .filter(move |(i, _)| Some(*i) != naming)
            .map(|(_, e)| e)
    }

    fn sort_key(&self) -> (i64, i64) {
        let first = self.events.first().map_or(i64::MAX, |e| e.time_ns);
        (self.start_ns.unwrap_or(first), self.pid)
    }
}

/// A parent as a child's event describes it: its executable and command line (None when the
/// event says neither).
fn parent_as_seen(parent: &Value) -> Option<(Option<String>, Option<String>)> {
    let args: Vec<std::borrow::Cow<'_, str>> = parent["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(std::borrow::Cow::Borrowed)
        .collect();
    let exe = parent["executable"].as_str().map(str::to_owned);
    let command_line = (!args.is_empty()).then(|| warden_core::command_line(&args));
    (exe.is_some() || command_line.is_some()).then_some((exe, command_line))
}

/// The pid in an entity id (`<boot>-<pid>-<start ticks>`).
pub fn pid_of_entity(entity_id: &str) -> Option<i64> {
    entity_id.split('-').nth(1)?.parse().ok()
}

/// The events that tell a process's life: its fork, execs and exit.
fn lifecycle_kinds() -> Vec<(String, Option<String>)> {
    ["exec", "fork", "exit"]
        .iter()
        .map(|c| ((*c).to_owned(), None))
        .collect()
}

/// Builds the forest around the events `selection` matches.
pub fn build(
    lookup: &mut dyn Lookup,
    selection: &EventFilter,
    reach: Reach,
) -> anyhow::Result<Forest> {
    let mut forest = Forest::default();
    // The matching processes, each with its latest match: a selection may match millions of
    // events, so only this is kept of them.
    let mut latest: HashMap<String, i64> = HashMap::new();
    lookup.visit(selection, &mut |event| {
        if !event.entity_id.is_empty() {
            let at = latest.entry(event.entity_id).or_insert(event.time_ns);
            *at = (*at).max(event.time_ns);
        }
    })?;
    let mut by_latest: Vec<(i64, &String)> = latest.iter().map(|(id, at)| (*at, id)).collect();
    by_latest.sort();
    if by_latest.len() > reach.matches {
        forest.notes.push(format!(
            "{} processes match; shown are the {} with the most recent matches (--limit)",
            by_latest.len(),
            reach.matches
        ));
        by_latest.drain(..by_latest.len() - reach.matches);
    }
    // Oldest first.
    let seeds: Vec<String> = by_latest.into_iter().map(|(_, id)| id.clone()).collect();

    // Up: every ancestor of every matching process, one generation per ask.
    let mut frontier: Vec<String> = seeds.clone();
    for _ in 0..MAX_GENERATIONS {
        if frontier.is_empty() {
            break;
        }
        let filter = EventFilter {
            entity_ids: frontier.clone(),
            kinds: lifecycle_kinds(),
            ..EventFilter::default()
        };
        let events = lookup.events(&filter)?;
        for event in &events {
            let ecs = event.ecs().unwrap_or(Value::Null);
            forest
                .nodes
                .entry(event.entity_id.clone())
                .or_insert_with(|| Node::new(&event.entity_id))
                .learn(event, &ecs);
        }
        let mut parents = Vec::new();
        for entity in &frontier {
            let node = forest
                .nodes
                .entry(entity.clone())
                .or_insert_with(|| Node::new(entity));
            if matches!(node.known, Known::Unknown | Known::FromChild) {
                describe_unrecorded(lookup, node);
            }
            if let Some(parent) = node.parent.clone()
                && !forest.nodes.contains_key(&parent)
                && !parents.contains(&parent)
            {
                parents.push(parent);
            }
        }
        // A parent no record names is described by what its child's exec said of it.
        for parent in &parents {
            let hint = frontier
                .iter()
                .filter_map(|c| forest.nodes.get(c))
                .filter(|c| c.parent.as_ref() == Some(parent))
                .find_map(|c| c.parent_seen_by_child.clone());
            let mut node = Node::new(parent);
            if let Some((exe, command_line)) = hint {
                node.exe = exe;
                node.command_line = command_line;
                node.known = Known::FromChild;
            }
            forest.nodes.insert(parent.clone(), node);
        }
        frontier = parents;
    }
    // Down: from each matching process's `up`-th ancestor, everything it started since.
    let mut tops = Vec::new();
    for seed in &seeds {
        let mut top = seed.clone();
        for _ in 0..reach.up {
            match forest.nodes.get(&top).and_then(|n| n.parent.clone()) {
                Some(parent) if forest.nodes.contains_key(&parent) => top = parent,
                _ => break,
            }
        }
        if !tops.contains(&top) {
            tops.push(top);
        }
    }
    let mut seen: HashSet<String> = tops.iter().cloned().collect();
    let mut frontier = tops;
    let mut left_out: HashSet<String> = HashSet::new();
    let mut generation = 0;
    while !frontier.is_empty() {
        // Nothing of theirs or their children's comes before they started: the store then
        // skips the blocks before (a second early, for the start's clock-tick rounding).
        let since = frontier
            .iter()
            .map(|id| forest.nodes.get(id).and_then(|n| n.start_ns))
            .min()
            .flatten()
            .map(|start| start - START_MARGIN_NS);
        let filter = EventFilter {
            entity_ids: frontier.clone(),
            match_parent_entity: true,
            since,
            ..EventFilter::default()
        };
        let in_frontier: HashSet<&String> = frontier.iter().collect();
        for entity in &frontier {
            let node = forest
                .nodes
                .entry(entity.clone())
                .or_insert_with(|| Node::new(entity));
            node.shown_in_full = true;
            // Asked again in full: what the ancestry pass kept is replaced, not doubled.
            node.events.clear();
            node.more.clear();
            node.kept = 0;
        }
        let mut children = Vec::new();
        // Streamed, in the order stored: only what each process keeps is held.
        lookup.visit(&filter, &mut |event| {
            if in_frontier.contains(&event.entity_id) {
                let node = forest.nodes.get_mut(&event.entity_id).expect("in frontier");
                node.take(event, selection, &reach);
            } else if !seen.contains(&event.entity_id) {
                if seen.len() >= reach.processes {
                    left_out.insert(event.entity_id);
                    return;
                }
                seen.insert(event.entity_id.clone());
                children.push(event.entity_id);
            }
        })?;
        for entity in &frontier {
            if let Some(node) = forest.nodes.get_mut(entity) {
                node.events.sort_by_key(|e| e.time_ns);
            }
        }
        generation += 1;
        if reach
            .depth
            .is_some_and(|depth| generation > depth + reach.up)
        {
            if !children.is_empty() {
                forest.notes.push(format!(
                    "{} processes deeper than --depth {} are left out, with what they started",
                    children.len(),
                    generation - 1 - reach.up
                ));
            }
            break;
        }
        frontier = children;
    }
    if !left_out.is_empty() {
        forest.notes.push(format!(
            "the tree holds {} processes; {} more of their children (and whatever those \
             started) are left out (--max-processes)",
            reach.processes,
            left_out.len()
        ));
    }

    for entity in latest.keys() {
        if let Some(node) = forest.nodes.get_mut(entity) {
            node.matched = true;
        }
    }
    link(&mut forest);
    Ok(forest)
}

/// How much earlier than a process's recorded start its events are looked for.
const START_MARGIN_NS: i64 = 1_000_000_000;

/// Generations walked up at most (a loop in bad records cannot run on).
const MAX_GENERATIONS: usize = 64;

/// Describes a process with no events of its own from /proc, while it runs.
fn describe_unrecorded(lookup: &mut dyn Lookup, node: &mut Node) {
    if let Some(running) = lookup.running(&node.entity_id) {
        node.known = Known::Running;
        node.pid = running.pid;
        node.command_line = running.command_line;
        node.exe = running.exe;
        node.user = running.user;
        node.parent = running.parent;
    }
}

/// Fills `roots` and `children`, each oldest first.
fn link(forest: &mut Forest) {
    let mut roots = Vec::new();
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for node in forest.nodes.values() {
        match node
            .parent
            .as_ref()
            .filter(|p| forest.nodes.contains_key(*p))
        {
            Some(parent) if *parent != node.entity_id => children
                .entry(parent.clone())
                .or_default()
                .push(node.entity_id.clone()),
            _ => roots.push(node.entity_id.clone()),
        }
    }
    let key = |id: &String| forest.nodes[id].sort_key();
    roots.sort_by_key(key);
    for list in children.values_mut() {
        list.sort_by_key(key);
    }
    forest.roots = roots;
    forest.children = children;
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Events in memory, and what /proc would say of the processes in `running`.
    #[derive(Default)]
    pub struct Fake {
        events: Vec<StoredEvent>,
        running: HashMap<String, Running>,
        asks: usize,
    }

    impl Lookup for Fake {
        fn visit(
            &mut self,
            filter: &EventFilter,
            each: &mut dyn FnMut(StoredEvent),
        ) -> anyhow::Result<()> {
            self.asks += 1;
            self.events
                .iter()
                .filter(|e| filter.matches(e))
                .for_each(|e| each(e.clone()));
            Ok(())
        }

        fn running(&mut self, entity_id: &str) -> Option<Running> {
            self.running.get(entity_id).cloned()
        }
    }

    /// An event of process `entity` (child of `parent`) at `time` microseconds.
    fn event(time: i64, action: &str, entity: &str, parent: &str, command: &str) -> StoredEvent {
        let class = match action {
            "exec" | "fork" | "exit" => action,
            "connect" => "network",
            _ => "file",
        };
        let body = serde_json::json!({
            "process": {
                "entity_id": entity,
                "command_line": command,
                "parent": {"entity_id": parent, "executable": "/bin/sh", "args": ["sh", "-c", "x y"]},
                "exit_code": (action == "exit").then_some(0),
            },
            "user": {"name": "alice"},
            "warden": {"source": if class == "file" { "fanotify" } else { "ebpf" }},
        });
        let mut body = body;
        if action == "exec" {
            // The dropped binary belongs to no package; the rest to one each.
            body["process"]["hash"]["sha256"] = format!("{:0<64}", command.len()).into();
            if command != "updater" {
                body["warden"]["executable"]["package"] = "pkg".into();
            }
        }
        StoredEvent {
            time_ns: time * 1000,
            class: class.into(),
            action: action.into(),
            entity_id: entity.into(),
            parent_entity_id: (!parent.is_empty()).then(|| parent.into()),
            pid: pid_of_entity(entity).unwrap_or(0),
            exe: Some(format!("/bin/{}", command.split(' ').next().unwrap_or(""))),
            path: (class == "file").then(|| format!("/home/alice/{action}")),
            success: (class != "fork" && class != "exit").then_some(true),
            body: warden_store::Body::Json(body.to_string()),
            ..StoredEvent::default()
        }
    }

    /// login shell (running, not recorded) → bash doc.sh → sh -c … → curl and updater;
    /// updater reads a key and connects. An unrelated process beside them.
    pub fn incident() -> Fake {
        let (shell, doc, sh, curl, upd) = ("b-10-1", "b-20-5", "b-21-6", "b-22-7", "b-23-8");
        let mut fake = Fake {
            events: vec![
                event(100, "fork", doc, shell, "bash"),
                event(101, "exec", doc, shell, "bash doc.sh"),
                event(102, "fork", sh, doc, "bash doc.sh"),
                event(103, "exec", sh, doc, "sh -c x y"),
                event(104, "fork", curl, sh, "sh -c x y"),
                event(105, "exec", curl, sh, "curl -o updater"),
                event(106, "create", curl, sh, "curl -o updater"),
                event(107, "exit", curl, sh, "curl -o updater"),
                event(108, "fork", upd, sh, "sh -c x y"),
                event(109, "exec", upd, sh, "updater"),
                event(110, "read", upd, sh, "updater"),
                event(111, "connect", upd, sh, "updater"),
                event(112, "exit", upd, sh, "updater"),
                event(113, "exit", sh, doc, "sh -c x y"),
                event(114, "exec", "b-99-9", "b-1-1", "unrelated"),
            ],
            ..Fake::default()
        };
        fake.running.insert(
            shell.into(),
            Running {
                pid: 10,
                command_line: Some("-bash".into()),
                user: Some("alice".into()),
                parent: Some("b-1-1".into()),
                ..Running::default()
            },
        );
        fake
    }

    pub fn reach(up: usize) -> Reach {
        Reach {
            up,
            matches: 20,
            processes: 1000,
            depth: None,
            events: 20,
            shown: EventFilter::default(),
        }
    }

    pub fn reads() -> EventFilter {
        EventFilter {
            kinds: vec![("file".into(), Some("read".into()))],
            ..EventFilter::default()
        }
    }

    #[test]
    fn a_matching_process_gets_its_ancestry_and_its_events() {
        let mut fake = incident();
        let forest = build(&mut fake, &reads(), reach(0)).unwrap();
        // Up to the first process neither records nor /proc name: the login shell's parent.
        assert_eq!(forest.roots, ["b-1-1"]);
        let chain: Vec<&str> = ["b-1-1", "b-10-1", "b-20-5", "b-21-6"]
            .iter()
            .map(|id| forest.children[*id][0].as_str())
            .collect();
        assert_eq!(chain, ["b-10-1", "b-20-5", "b-21-6", "b-23-8"]);
        let upd = &forest.nodes["b-23-8"];
        assert!(upd.matched && upd.shown_in_full && upd.known == Known::Recorded);
        assert_eq!(upd.command_line.as_deref(), Some("updater"));
        assert_eq!(upd.start_ns, Some(108_000), "the fork's time is the start");
        assert_eq!(
            upd.exit.map(|e| (e.time_ns, e.code)),
            Some((112_000, Some(0)))
        );
        let listed: Vec<&str> = upd.listed_events().map(|e| e.action.as_str()).collect();
        assert_eq!(
            listed,
            ["read", "connect"],
            "its exec is its line; fork and exit too"
        );
        // Ancestors are context: their own events are not listed.
        let sh = &forest.nodes["b-21-6"];
        assert!(!sh.shown_in_full && !sh.matched);
        assert_eq!(sh.command_line.as_deref(), Some("sh -c x y"));
        assert_eq!(
            forest.children["b-21-6"],
            ["b-23-8"],
            "curl is not updater's"
        );
        let shell = &forest.nodes["b-10-1"];
        assert_eq!(shell.known, Known::Running);
        assert_eq!(shell.command_line.as_deref(), Some("-bash"));
        assert_eq!(forest.nodes["b-1-1"].known, Known::Unknown);
        assert!(!forest.nodes.contains_key("b-99-9"));
        assert!(forest.notes.is_empty());
    }

    #[test]
    fn up_shows_the_matching_process_among_its_siblings() {
        let mut fake = incident();
        let forest = build(&mut fake, &reads(), reach(1)).unwrap();
        assert_eq!(
            forest.children["b-21-6"],
            ["b-22-7", "b-23-8"],
            "oldest first"
        );
        let curl = &forest.nodes["b-22-7"];
        assert!(curl.shown_in_full && !curl.matched);
        let listed: Vec<&str> = curl.listed_events().map(|e| e.action.as_str()).collect();
        assert_eq!(listed, ["create"]);
        assert!(forest.nodes["b-21-6"].shown_in_full);
        assert!(!forest.nodes["b-20-5"].shown_in_full);
    }

    #[test]
    fn a_parent_without_records_is_named_by_its_childs_exec() {
        let mut fake = incident();
        fake.running.clear();
        let forest = build(&mut fake, &reads(), reach(0)).unwrap();
        let shell = &forest.nodes["b-10-1"];
        assert_eq!(shell.known, Known::FromChild);
        assert_eq!(shell.command_line.as_deref(), Some("sh -c \"x y\""));
        assert_eq!(shell.exe.as_deref(), Some("/bin/sh"));
        assert_eq!(forest.roots, ["b-10-1"], "nothing names its parent");
    }

    #[test]
    fn a_parent_is_named_by_a_child_that_only_forked() {
        // A subshell: forked, never exec'd, its parent long gone from the records.
        let mut fake = Fake {
            events: vec![
                event(10, "fork", "b-5-2", "b-4-1", "bash"),
                event(11, "read", "b-5-2", "b-4-1", "bash"),
            ],
            ..Fake::default()
        };
        let forest = build(&mut fake, &reads(), reach(0)).unwrap();
        let parent = &forest.nodes["b-4-1"];
        assert_eq!(parent.known, Known::FromChild);
        assert_eq!(parent.command_line.as_deref(), Some("sh -c \"x y\""));
    }

    #[test]
    fn bounds_are_kept_and_said() {
        let mut fake = incident();
        let everything = EventFilter {
            since: Some(0),
            ..EventFilter::default()
        };
        let forest = build(
            &mut fake,
            &everything,
            Reach {
                matches: 1,
                ..reach(0)
            },
        )
        .unwrap();
        assert!(
            forest.notes[0].starts_with("5 processes match"),
            "{:?}",
            forest.notes
        );
        assert!(
            forest.nodes["b-99-9"].matched,
            "the most recent match is kept"
        );
        assert!(!forest.nodes.contains_key("b-23-8"));

        let forest = document_tree(Reach {
            processes: 2,
            ..reach(0)
        });
        assert!(forest.nodes.contains_key("b-21-6"));
        assert!(!forest.nodes.contains_key("b-23-8"));
        assert!(
            forest.notes[0].contains("2 more of their children"),
            "{:?}",
            forest.notes
        );
    }

    /// The tree of the incident's document (`bash doc.sh`), so far as `reach` goes.
    fn document_tree(reach: Reach) -> Forest {
        let doc = EventFilter {
            entity_ids: vec!["b-20-5".into()],
            ..EventFilter::default()
        };
        build(&mut incident(), &doc, reach).unwrap()
    }

    #[test]
    fn depth_bounds_the_generations_down() {
        let forest = document_tree(Reach {
            depth: Some(1),
            ..reach(0)
        });
        assert!(forest.nodes["b-21-6"].shown_in_full, "its child");
        assert!(
            !forest.nodes.contains_key("b-22-7"),
            "not its grandchildren"
        );
        assert_eq!(
            forest.notes,
            ["2 processes deeper than --depth 1 are left out, with what they started"]
        );
    }

    #[test]
    fn asks_are_one_per_generation() {
        let mut fake = incident();
        build(&mut fake, &reads(), reach(0)).unwrap();
        // The selection; five generations up (updater … the unknown root); updater's level
        // and the empty one below it.
        assert_eq!(fake.asks, 1 + 5 + 1);
    }
}
