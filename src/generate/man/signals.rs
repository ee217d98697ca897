//! The signal lists of osps-primary(1) and osps-secondary(1), written from the policy
//! tables of `os/signals.rs` ([`PRIMARY`], [`SECONDARY`]) so that the pages say what the
//! code does. Each placeholder lists the signals of one treatment (and reason, see
//! [`Why`]) in table order, each with the note the table gives it; the sentences around
//! the lists stay in the templates.

use crate::os::signals::{PRIMARY, Policy, SECONDARY, Treatment, Why};

/// Which signals a placeholder lists, and how.
struct List {
    policy: &'static Policy,
    treatment: Treatment,
    keep: fn(Why) -> bool,
    /// Each signal's note in parentheses, and the real-time signals by their range;
    /// without, the names alone.
    notes: bool,
    /// "A, B and C" (else "A, B, C": the sentence goes on with the last one).
    and: bool,
}

fn list(name: &str) -> Option<List> {
    use Treatment::{CoreDump, Ignore, Status, Stop};
    let primary = |treatment, keep: fn(Why) -> bool, and| List {
        policy: PRIMARY,
        treatment,
        keep,
        notes: true,
        and,
    };
    let secondary = |treatment, keep: fn(Why) -> bool, and| List {
        policy: SECONDARY,
        treatment,
        keep,
        notes: false,
        and,
    };
    Some(match name {
        "SIGNALS_OVER" => primary(Stop, |w| w == Why::Over, true),
        "SIGNALS_UNUSED" => primary(Stop, |w| w == Why::Unused, true),
        "SIGNALS_STATUS" => primary(Status, |_| true, true),
        "SIGNALS_IGNORED" => primary(Ignore, |_| true, true),
        "SIGNALS_DEBUGGING" => primary(CoreDump, |w| w == Why::Debugging, true),
        "SIGNALS_CRASH" => primary(CoreDump, |w| w == Why::Crash, false),
        // SIGINT and SIGTERM, the signals that mean "stop", are told apart in the text.
        "SECONDARY_SIGNALS_AS_SIGTERM" => secondary(Stop, |w| w == Why::Unused, false),
        "SECONDARY_SIGNALS_IGNORED" => secondary(Ignore, |w| w != Why::Asked, true),
        _ => return None,
    })
}

/// The text of a signal placeholder.
pub fn value(name: &str) -> Option<String> {
    list(name).map(|list| list.render())
}

impl List {
    fn render(&self) -> String {
        // Signals in a row that share a note are named together: "A and B (note)".
        let mut groups: Vec<(Vec<String>, &str)> = Vec::new();
        for (signal, treatment, why, note) in self.policy.explained() {
            if treatment != self.treatment || !(self.keep)(why) {
                continue;
            }
            let note = if self.notes { note } else { "" };
            match groups.last_mut() {
                Some((names, last)) if !note.is_empty() && *last == note => {
                    names.push(signal.to_string());
                }
                _ => groups.push((vec![signal.to_string()], note)),
            }
        }
        let mut items: Vec<String> = groups
            .into_iter()
            .map(|(names, note)| match note {
                "" => names.join(" and "),
                note => format!("{} ({note})", names.join(" and ")),
            })
            .collect();
        let (treatment, why) = self.policy.realtime();
        if treatment == self.treatment && (self.keep)(why) {
            items.push(if self.notes {
                "every real-time signal, SIGRTMIN to SIGRTMAX".to_string()
            } else {
                "the real-time signals".to_string()
            });
        }
        join(&items, self.and)
    }
}

fn join(items: &[String], and: bool) -> String {
    match items.split_last() {
        Some((last, rest)) if and && !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The placeholders of the primary's page, by name.
    const PRIMARY_LISTS: [&str; 6] = [
        "SIGNALS_OVER",
        "SIGNALS_UNUSED",
        "SIGNALS_STATUS",
        "SIGNALS_IGNORED",
        "SIGNALS_DEBUGGING",
        "SIGNALS_CRASH",
    ];

    #[test]
    fn lists_join_with_and_or_commas_only() {
        let items = ["A", "B", "C"].map(String::from);
        assert_eq!(join(&items, true), "A, B and C");
        assert_eq!(join(&items, false), "A, B, C");
        assert_eq!(join(&items[..1], true), "A");
        assert_eq!(join(&[], true), "");
    }

    #[test]
    fn signals_that_share_a_note_are_named_together() {
        let ignored = value("SIGNALS_IGNORED").unwrap();
        assert!(
            ignored.contains("SIGVTALRM and SIGPROF (profiling timers"),
            "{ignored}"
        );
        assert!(ignored.ends_with(" and SIGXFSZ"), "{ignored}");
        assert_eq!(
            value("SECONDARY_SIGNALS_AS_SIGTERM").unwrap(),
            "SIGPWR, SIGXCPU, SIGSTKFLT, SIGIO, the real-time signals"
        );
    }

    /// The primary's page lists every signal it decides once, but those its text names
    /// itself: SIGINT and SIGTERM (the stop), SIGCHLD, SIGBUS.
    #[test]
    fn the_primary_page_lists_every_signal_once() {
        let page = super::super::pages::template(Some("primary")).unwrap();
        let lists: Vec<String> = PRIMARY_LISTS
            .iter()
            .inspect(|name| {
                assert!(page.contains(&format!("{{{{{name}}}}}")), "{name} unused");
            })
            .map(|name| value(name).unwrap())
            .collect();
        for (signal, treatment, why, _) in PRIMARY.explained() {
            let name = signal.to_string();
            let times: usize = lists
                .iter()
                .map(|l| l.split([' ', ',', '(']).filter(|w| *w == name).count())
                .sum();
            let named_by_the_text =
                why == Why::Asked || matches!(treatment, Treatment::Child | Treatment::Bus);
            assert_eq!(times, usize::from(!named_by_the_text), "{name}: {lists:?}");
        }
    }
}
