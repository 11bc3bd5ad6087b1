//! What [`TaskState::apply`](super::TaskState::apply) derives from an
//! event and the model alone, before it looks at any state: the parsed
//! lead id and its hash, the event id's hash, the rule the event matches
//! and its repeat-window key. Exists as a value so that it can be worked
//! out ahead, on another thread (`replay` does, while the task applies the
//! events before), and so that the task can warm its caches for a few
//! events before applying them ([`TaskState::warm`](super::TaskState::warm)).

use xxhash_rust::xxh3::xxh3_64;

use super::dedupe::SeenEvents;
use super::lead_key::LeadId;
use crate::event::{Event, EventBody};
use crate::model::Model;

/// An event's keys under one model. A pure function of the two
/// ([`EventKeys::of`]); the task trusts them to be that. Holds no borrow
/// of the event, so it can sit beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKeys {
    /// The lead id's bytes when it is a UUID (else the id is the event's
    /// text), and the id's hash.
    uuid: Option<[u8; 16]>,
    pub(crate) lead_hash: u64,
    /// The event id's hash (the dedupe window's key).
    pub(crate) id_hash: u64,
    /// The rule the event matches, and the hash of its repeat-window key
    /// (the event id's hash when the rule has no repeat window).
    pub(crate) rule: Option<(u16, u64)>,
}

impl EventKeys {
    /// The keys of `event` under `model`.
    pub fn of(model: &Model, event: &Event<'_>) -> EventKeys {
        let lead = LeadId::parse(&event.lead_id);
        let id_hash = SeenEvents::hash_id(&event.event_id);
        let matched = match &event.body {
            EventBody::Profile(_) => None,
            _ => model.match_rule(event),
        };
        let rule = matched.map(|rule| {
            let key = model.rules[usize::from(rule)]
                .repeat
                .and_then(|rep| rep.key.value(&event.body))
                .map_or(id_hash, |v| xxh3_64(v.as_bytes()));
            (rule, key)
        });
        EventKeys {
            uuid: match lead {
                LeadId::Uuid(b) => Some(b),
                LeadId::Text(_) => None,
            },
            lead_hash: lead.hash64(),
            id_hash,
            rule,
        }
    }

    /// The lead id of `event` (the event these are the keys of).
    #[inline]
    pub(crate) fn lead<'e>(&self, event: &'e Event<'_>) -> LeadId<'e> {
        match self.uuid {
            Some(b) => LeadId::Uuid(b),
            None => LeadId::Text(&event.lead_id),
        }
    }
}
