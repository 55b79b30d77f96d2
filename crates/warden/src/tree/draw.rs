//! `warden tree`'s output: the forest drawn as indented text (one line per process, its events
//! under it), or as JSON lines (one object per process, in the same order, with its depth).

use std::io::Write;

use serde_json::{Value, json};
use warden_store::{EventFilter, StoredEvent};

use super::forest::{Forest, Image, Known, Node};
use crate::events::text::{escape_controls, what_happened};
use crate::timing::{NS_PER_DAY, Timing, clock};

/// How the forest is written.
pub struct Drawing<'a> {
    pub forest: &'a Forest,
    /// The events that chose the processes: marked with `*`.
    pub selection: &'a EventFilter,
}

impl Drawing<'_> {
    /// The processes in drawing order, each with its depth.
    fn walk(&self) -> Vec<(usize, &Node)> {
        let mut order = Vec::new();
        let mut stack: Vec<(usize, &String)> =
            self.forest.roots.iter().rev().map(|r| (0, r)).collect();
        while let Some((depth, id)) = stack.pop() {
            order.push((depth, &self.forest.nodes[id]));
            if let Some(children) = self.forest.children.get(id) {
                stack.extend(children.iter().rev().map(|c| (depth + 1, c)));
            }
        }
        order
    }

    /// A process's listed events, with whether each is marked, and a summary of the rest
    /// (those the forest counted rather than kept).
    fn listed<'n>(&self, node: &'n Node) -> (Vec<(bool, &'n StoredEvent)>, Option<String>) {
        let listed = node
            .listed_events()
            .map(|e| (self.selection.matches(e), e))
            .collect();
        let summary = (!node.more.is_empty()).then(|| {
            let total: usize = node.more.values().sum();
            let mut by_action: Vec<(&str, usize)> =
                node.more.iter().map(|(a, n)| (a.as_str(), *n)).collect();
            by_action.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = by_action.iter().map(|(a, n)| format!("{n} {a}")).collect();
            format!("… {total} more ({}; --events)", parts.join(", "))
        });
        (listed, summary)
    }

    /// Writes the forest as text: a process per line under its parent, its events under it.
    pub fn text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let day = self.day();
        let order = self.walk();
        // Which depths still have a later sibling below: where the vertical rules run.
        let mut open: Vec<bool> = Vec::new();
        for (index, &(depth, node)) in order.iter().enumerate() {
            let last_sibling = !order[index + 1..]
                .iter()
                .take_while(|(d, _)| *d >= depth)
                .any(|(d, _)| *d == depth);
            open.truncate(depth);
            let mut prefix = String::new();
            for &more in open.iter().skip(1) {
                prefix.push_str(if more { "│  " } else { "   " });
            }
            let connector = match (depth, last_sibling) {
                (0, _) => "",
                (_, true) => "└─ ",
                (_, false) => "├─ ",
            };
            writeln!(
                out,
                "{}",
                escape_controls(&format!("{prefix}{connector}{}", self.label(node, day)))
            )?;
            open.push(!last_sibling);
            if !node.shown_in_full {
                continue;
            }
            let has_children = self.forest.children.contains_key(&node.entity_id);
            let mut below = prefix.clone();
            if depth > 0 {
                below.push_str(if last_sibling { "   " } else { "│  " });
            }
            below.push_str(if has_children { "│ " } else { "  " });
            let (listed, summary) = self.listed(node);
            for (marked, event) in listed {
                let ecs = event.ecs().unwrap_or(Value::Null);
                let timing = Timing::of(&ecs);
                let line = format!(
                    "{below}{}{}{} {}",
                    if marked { "*" } else { " " },
                    if timing == Timing::ReadLate { "~" } else { " " },
                    timing.clock(event.time_ns, day),
                    what_happened(event, &ecs)
                );
                writeln!(out, "{}", escape_controls(line.trim_end()))?;
            }
            if let Some(summary) = summary {
                writeln!(out, "{below}  {summary}")?;
            }
        }
        for note in &self.forest.notes {
            writeln!(out, "# {note}")?;
        }
        Ok(())
    }

    /// One process's line: what it ran, then who and when.
    fn label(&self, node: &Node, day: Option<i64>) -> String {
        let what = node
            .command_line
            .as_deref()
            .or(node.exe.as_deref())
            .unwrap_or("?");
        // An ancestor is context: its command line is cut short (`warden events` has it all).
        let what = match what.char_indices().nth(CONTEXT_WIDTH) {
            Some((cut, _)) if !node.shown_in_full => format!("{}…", &what[..cut]),
            _ => what.to_owned(),
        };
        let mut line = format!(
            "{}{what}  pid={}",
            if node.matched { "* " } else { "" },
            node.pid
        );
        if let Some(image) = &node.image {
            line.push_str(&image_facts(image));
        }
        if let Some(user) = &node.user {
            line.push_str(&format!(" user={user}"));
        }
        if let Some(start) = node.start_ns {
            line.push_str(&format!(" start={}", clock(start, day)));
        }
        if let Some(exit) = node.exit {
            line.push_str(&format!(" end={}", clock(exit.time_ns, day)));
            if let Some(code) = exit.code {
                line.push_str(&format!(" exit_code={code}"));
            }
            if let Some(signal) = exit.signal {
                line.push_str(&format!(" signal={signal}"));
            }
        }
        match node.known {
            Known::Recorded => {}
            Known::Running => line.push_str(" (running; not in the records)"),
            Known::FromChild => line.push_str(" (not in the records; as its child's exec saw it)"),
            Known::Unknown => line.push_str(" (not in the records)"),
        }
        line.push_str(&format!(" entity={}", node.entity_id));
        line
    }

    /// The UTC day (as days since the epoch) of the first marked event: times on that day are
    /// written as times of day.
    fn day(&self) -> Option<i64> {
        self.forest
            .nodes
            .values()
            .flat_map(|n| &n.events)
            .filter(|e| self.selection.matches(e))
            .map(|e| e.time_ns)
            .min()
            .map(|t| t.div_euclid(NS_PER_DAY))
    }

    /// The header line of the text: what is shown, and the day times of day belong to.
    pub fn header(&self) -> String {
        let matched = self.forest.nodes.values().filter(|n| n.matched).count();
        let day = self
            .day()
            .map(|d| warden_core::rfc3339_ns(d * NS_PER_DAY)[..10].to_owned())
            .map_or_else(String::new, |d| format!("; times UTC, {d}"));
        // Only the events drawn: a process may have thousands more, counted in a line.
        let mut timings = Vec::new();
        for node in self.forest.nodes.values().filter(|n| n.shown_in_full) {
            for (_, event) in self.listed(node).0 {
                let timing = Timing::of(&event.ecs().unwrap_or(Value::Null));
                if !timings.contains(&timing) {
                    timings.push(timing);
                }
            }
        }
        let mut header = format!(
            "# {} processes, {matched} of them matching (marked *){day}",
            self.forest.nodes.len()
        );
        if timings.contains(&Timing::ReadLate) {
            header.push_str(
                "; ~ a time fanotify gave no better than when it was read (up to 5 ms late in a \
                 burst, never after the exit)",
            );
        }
        if timings.contains(&Timing::Millisecond) {
            header.push_str(
                "; audit's times (.ddd) are the kernel's coarse clock at the call: up to a tick \
                 (1-10 ms) early",
            );
        }
        header
    }

    /// Writes the forest as JSON lines: one object per process in drawing order, with its
    /// depth, its listed events (each `{"matched", "event"}`, the event in ECS) and how many more
    /// there were.
    pub fn json(&self, out: &mut impl Write) -> std::io::Result<()> {
        for (depth, node) in self.walk() {
            let (listed, _) = self.listed(node);
            let left_out: usize = node.more.values().sum();
            let events: Vec<Value> = listed
                .iter()
                .map(|(marked, e)| json!({"matched": marked, "event": e.ecs()}))
                .collect();
            let line = json!({
                "depth": depth,
                "entity_id": node.entity_id,
                "parent_entity_id": node.parent,
                "pid": node.pid,
                "known": match node.known {
                    Known::Recorded => "recorded",
                    Known::Running => "running",
                    Known::FromChild => "from_child",
                    Known::Unknown => "unknown",
                },
                "matched": node.matched,
                "command_line": node.command_line,
                "executable": node.exe,
                "user": node.user,
                "start": node.start_ns.map(warden_core::rfc3339_ns),
                "end": node.exit.map(|e| warden_core::rfc3339_ns(e.time_ns)),
                "exit_code": node.exit.and_then(|e| e.code),
                "sha256": node.image.as_ref().and_then(|i| i.sha256.clone()),
                "package": node.image.as_ref().and_then(|i| i.package.clone()),
                "package_verified": node.image.as_ref().and_then(|i| i.package_verified),
                "origin_url": node.image.as_ref().and_then(|i| i.origin_url.clone()),
                "script": node.image.as_ref().and_then(|i| i.script.as_ref()).map(|(path, s)| {
                    json!({"path": path, "sha256": s.sha256, "package": s.package})
                }),
                "signal": node.exit.and_then(|e| e.signal),
                "events": if node.shown_in_full { Value::Array(events) } else { Value::Null },
                "events_left_out": left_out,
            });
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// Characters of an ancestor's command line shown.
const CONTEXT_WIDTH: usize = 100;

/// What sets a binary apart at a glance: the start of its digest, its package (or that none
/// owns it, or that it was changed since installed), and where it was downloaded from.
fn image_facts(image: &Image) -> String {
    let mut facts = String::new();
    if let Some(sha256) = &image.sha256 {
        facts.push_str(&format!(" sha256={}", &sha256[..sha256.len().min(12)]));
    }
    match (&image.package, image.package_verified) {
        (Some(package), Some(false)) => facts.push_str(&format!(
            " package={package} (differs from the package's digest)"
        )),
        (Some(package), _) => facts.push_str(&format!(" package={package}")),
        (None, _) if image.sha256.is_some() => facts.push_str(" package=none"),
        (None, _) => {}
    }
    if let Some(origin) = &image.origin_url {
        facts.push_str(&format!(" from={origin}"));
    }
    if let Some((path, script)) = &image.script {
        facts.push_str(&format!(" script={path}"));
        let own = image_facts(script);
        if !own.is_empty() {
            facts.push_str(&format!(" ({})", own.trim_start()));
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::super::forest::{self, tests as fixture};
    use super::*;

    #[test]
    fn text_draws_each_process_under_its_parent_with_its_events() {
        let mut fake = fixture::incident();
        let selection = fixture::reads();
        let forest = forest::build(&mut fake, &selection, fixture::reach(1)).unwrap();
        let drawing = Drawing {
            forest: &forest,
            selection: &selection,
        };
        let mut out = Vec::new();
        drawing.text(&mut out).unwrap();
        let expected = "\
?  pid=1 (not in the records) entity=b-1-1
└─ -bash  pid=10 user=alice (running; not in the records) entity=b-10-1
   └─ bash doc.sh  pid=20 sha256=110000000000 package=pkg user=alice start=00:00:00.000100 entity=b-20-5
      └─ sh -c x y  pid=21 sha256=900000000000 package=pkg user=alice start=00:00:00.000102 end=00:00:00.000113 exit_code=0 entity=b-21-6
         ├─ curl -o updater  pid=22 sha256=150000000000 package=pkg user=alice start=00:00:00.000104 end=00:00:00.000107 exit_code=0 entity=b-22-7
         │     ~00:00:00.000106 create /home/alice/create success
         └─ * updater  pid=23 sha256=700000000000 package=none user=alice start=00:00:00.000108 \
end=00:00:00.000112 exit_code=0 entity=b-23-8
              *~00:00:00.000110 read  /home/alice/read success
                00:00:00.000111 connect ? -> ? success
";
        assert_eq!(
            drawing.header(),
            "# 6 processes, 1 of them matching (marked *); times UTC, 1970-01-01; ~ a time \
             fanotify gave no better than when it was read (up to 5 ms late in a burst, never after \
             the exit)"
        );

        // Past the bound, events are counted by action; a matching one is listed anyway.
        let bounded = forest::build(
            &mut fixture::incident(),
            &selection,
            forest::Reach {
                events: 0,
                ..fixture::reach(1)
            },
        )
        .unwrap();
        let drawing = Drawing {
            forest: &bounded,
            ..drawing
        };
        let mut summarized = Vec::new();
        drawing.text(&mut summarized).unwrap();
        let text = String::from_utf8(summarized).unwrap();
        let lines: Vec<&str> = text.lines().skip(5).collect();
        assert_eq!(
            lines,
            [
                "         │      … 1 more (1 create; --events)",
                "         └─ * updater  pid=23 sha256=700000000000 package=none user=alice \
                 start=00:00:00.000108 \
                 end=00:00:00.000112 exit_code=0 entity=b-23-8",
                "              *~00:00:00.000110 read  /home/alice/read success",
                "                … 1 more (1 connect; --events)",
            ]
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);

        // --show nt: only network events under each process, and the marked read anyway.
        let network = EventFilter {
            kinds: vec![("network".into(), None)],
            ..EventFilter::default()
        };
        let shown = forest::build(
            &mut fixture::incident(),
            &selection,
            forest::Reach {
                shown: network,
                ..fixture::reach(1)
            },
        )
        .unwrap();
        let drawing = Drawing {
            forest: &shown,
            ..drawing
        };
        let mut out = Vec::new();
        drawing.text(&mut out).unwrap();
        let events: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .filter(|l| l.contains("00:00:00.000") && !l.contains("pid="))
            .map(|l| l.trim_start_matches([' ', '│']).to_owned())
            .collect();
        assert_eq!(
            events,
            [
                "*~00:00:00.000110 read  /home/alice/read success",
                "00:00:00.000111 connect ? -> ? success"
            ]
        );
    }
}
