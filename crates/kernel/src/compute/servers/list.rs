//! Listing servers: Nova's filters, sorting and limit/marker paging.
//!
//! The default order (newest first) walks the creation-order indexes backwards from the
//! marker and stops after `limit` matches, so a page costs O(limit + skipped) whatever the
//! number of servers. Another sort key collects the matches and sorts them.

use std::cmp::Ordering;

use super::{Server, Status};
use crate::ids::Uuid;
use crate::topology::HostIdx;
use crate::Read;
use crate::{Error, Result, Time};

/// Nova's `max_limit`: the most servers one page holds.
pub const MAX_LIMIT: usize = 1000;

/// A sort key of `GET /servers?sort_key=`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// `created_at` (the default).
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
    /// `display_name`.
    DisplayName,
    /// `uuid`.
    Uuid,
    /// `launched_at`.
    LaunchedAt,
    /// `vm_state`.
    VmState,
    /// `task_state`.
    TaskState,
    /// `power_state`.
    PowerState,
    /// `key_name`.
    KeyName,
    /// `host` (admins only).
    Host,
    /// `project_id`.
    ProjectId,
    /// `user_id`.
    UserId,
}

impl SortKey {
    /// The key named `name` in Nova's API.
    pub fn from_name(name: &str) -> Option<SortKey> {
        Some(match name {
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "display_name" => SortKey::DisplayName,
            "uuid" => SortKey::Uuid,
            "launched_at" => SortKey::LaunchedAt,
            "vm_state" => SortKey::VmState,
            "task_state" => SortKey::TaskState,
            "power_state" => SortKey::PowerState,
            "key_name" => SortKey::KeyName,
            "host" => SortKey::Host,
            "project_id" => SortKey::ProjectId,
            "user_id" => SortKey::UserId,
            _ => return None,
        })
    }

    fn compare(self, a: &Server, b: &Server) -> Ordering {
        match self {
            SortKey::CreatedAt => a.created.cmp(&b.created),
            SortKey::UpdatedAt => a.updated.cmp(&b.updated),
            SortKey::DisplayName => a.name.cmp(&b.name),
            SortKey::Uuid => a.id.cmp(&b.id),
            SortKey::LaunchedAt => a.launched_at.cmp(&b.launched_at),
            SortKey::VmState => a.vm_state.name().cmp(b.vm_state.name()),
            SortKey::TaskState => a.task_state.map(|t| t.name()).cmp(&b.task_state.map(|t| t.name())),
            SortKey::PowerState => a.power_state.code().cmp(&b.power_state.code()),
            SortKey::KeyName => a.extras().key_name.cmp(&b.extras().key_name),
            SortKey::Host => a.host.cmp(&b.host),
            SortKey::ProjectId => a.project.cmp(&b.project),
            SortKey::UserId => a.user.cmp(&b.user),
        }
    }
}

/// What `GET /servers` asks for, already parsed and authorised by the API.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Only this project's servers; None lists every project (admins with `all_tenants`).
    pub project: Option<Uuid>,
    /// Name pattern (a small regular expression, matched anywhere, ignoring case).
    pub name: Option<String>,
    /// Any of these statuses.
    pub status: Option<Vec<Status>>,
    /// Flavor id.
    pub flavor: Option<String>,
    /// Image id.
    pub image: Option<Uuid>,
    /// Host (admins only).
    pub host: Option<HostIdx>,
    /// Zone index (admins only).
    pub zone: Option<u32>,
    /// Creating user (admins only).
    pub user: Option<Uuid>,
    /// Keypair name (admins only).
    pub key_name: Option<String>,
    /// Reservation id.
    pub reservation_id: Option<String>,
    /// Locked or not (2.73).
    pub locked: Option<bool>,
    /// Any of these vm_state names.
    pub vm_states: Vec<String>,
    /// Any of these task_state names.
    pub task_states: Vec<String>,
    /// Any of these power_state codes.
    pub power_states: Vec<u8>,
    /// This progress percentage.
    pub progress: Option<u8>,
    /// With a config drive or without.
    pub config_drive: Option<bool>,
    /// Changed at or after.
    pub changes_since: Option<Time>,
    /// Changed at or before (2.66).
    pub changes_before: Option<Time>,
    /// Has all of these tags.
    pub tags: Vec<String>,
    /// Has any of these tags.
    pub tags_any: Vec<String>,
    /// Lacks at least one of these tags.
    pub not_tags: Vec<String>,
    /// Has none of these tags.
    pub not_tags_any: Vec<String>,
    /// Page size (capped at [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// Start after this server.
    pub marker: Option<Uuid>,
    /// Sort key and whether descending; None is created_at descending.
    pub sort: Option<(SortKey, bool)>,
}

impl ListQuery {
    /// Whether `s` passes every filter.
    pub fn matches(&self, s: &Server) -> bool {
        self.project.is_none_or(|p| s.project == p)
            && self.name.as_deref().is_none_or(|p| name_matches(p, &s.name))
            && self.status.as_ref().is_none_or(|st| st.contains(&s.status()))
            && self.image.is_none_or(|i| s.image == Some(i))
            && self.host.is_none_or(|h| s.host == Some(h))
            && self.user.is_none_or(|u| s.user == u)
            && self.key_name.as_ref().is_none_or(|n| s.extras().key_name.as_ref() == Some(n))
            && self.reservation_id.as_ref().is_none_or(|r| &s.reservation_id() == r)
            && self.locked.is_none_or(|l| s.locked() == l)
            && self.states_match(s)
            && self.changes_since.is_none_or(|t| s.updated >= t)
            && self.changes_before.is_none_or(|t| s.updated <= t)
            && self.tags_match(s)
    }

    fn states_match(&self, s: &Server) -> bool {
        (self.vm_states.is_empty() || self.vm_states.iter().any(|v| v == s.vm_state.name()))
            && (self.task_states.is_empty() || s.task_state.is_some_and(|t| self.task_states.iter().any(|v| v == t.name())))
            && (self.power_states.is_empty() || self.power_states.contains(&s.power_state.code()))
            && self.progress.is_none_or(|p| s.progress == p)
            && self.config_drive.is_none_or(|c| s.config_drive == c)
    }

    fn tags_match(&self, s: &Server) -> bool {
        let tags = &s.extras().tags;
        (self.tags.is_empty() || self.tags.iter().all(|t| tags.contains(t)))
            && (self.tags_any.is_empty() || self.tags_any.iter().any(|t| tags.contains(t)))
            && (self.not_tags.is_empty() || !self.not_tags.iter().all(|t| tags.contains(t)))
            && (self.not_tags_any.is_empty() || !self.not_tags_any.iter().any(|t| tags.contains(t)))
    }

    fn matches_in<'k>(&self, k: impl Read<'k>, s: &Server) -> bool {
        let k = k.read();
        self.matches(s)
            && self.flavor.as_ref().is_none_or(|f| &k.compute.servers.flavor(s.flavor).id == f)
            && self.zone.is_none_or(|z| s.host.map(|h| k.topology.host(h).zone).or(s.requested_zone) == Some(z))
    }

    /// The page size in force.
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
    }
}

/// One page of servers, and whether it is full (Nova then adds a `next` link).
pub fn list<'a>(k: impl Read<'a>, q: &ListQuery) -> Result<(Vec<&'a Server>, bool)> {
    let k = k.read();
    let limit = q.page_size();
    let servers = &k.compute.servers;
    let marker = match q.marker {
        Some(m) => Some(
            servers
                .by_id
                .get(&m)
                .map(|s| &**s)
                .filter(|s| q.project.is_none_or(|p| s.project == p))
                .ok_or_else(|| Error::bad_request("compute.bad_request", format!("marker [{m}] not found")))?,
        ),
        None => None,
    };
    let page: Vec<&Server> = match q.sort {
        None | Some((SortKey::CreatedAt, true)) => {
            let before = marker.map_or(u64::MAX, |m| m.seq);
            let seqs: Box<dyn Iterator<Item = u64> + 'a> = match q.project {
                Some(p) => Box::new(servers.by_project.range((p, 0)..(p, before)).rev().map(|&(_, seq)| seq)),
                None => Box::new(servers.by_seq.range(..before).rev().map(|(&seq, _)| seq)),
            };
            seqs.filter_map(|seq| servers.by_seq.get(&seq).and_then(|id| servers.by_id.get(id).map(|s| &**s)))
                .filter(|s| q.matches_in(k, s))
                .take(limit)
                .collect()
        }
        Some((key, desc)) => sorted_page(k, q, key, desc, marker, limit),
    };
    let full = limit > 0 && page.len() == limit;
    Ok((page, full))
}

fn sorted_page<'a>(k: impl Read<'a>, q: &ListQuery, key: SortKey, desc: bool, marker: Option<&Server>, limit: usize) -> Vec<&'a Server> {
    let k = k.read();
    let servers = &k.compute.servers;
    let mut all: Vec<&Server> = match q.project {
        Some(p) => servers
            .by_project
            .range((p, 0)..=(p, u64::MAX))
            .filter_map(|(_, seq)| servers.by_seq.get(seq))
            .filter_map(|id| servers.by_id.get(id).map(|s| &**s))
            .collect(),
        None => servers.by_id.values().map(|s| &**s).collect(),
    };
    all.retain(|s| q.matches_in(k, s));
    let order = |a: &&Server, b: &&Server| {
        let o = key.compare(a, b).then(a.seq.cmp(&b.seq));
        if desc {
            o.reverse()
        } else {
            o
        }
    };
    all.sort_by(order);
    let start = match marker {
        Some(m) => all.partition_point(|s| order(s, &m) != Ordering::Greater),
        None => 0,
    };
    all.into_iter().skip(start).take(limit).collect()
}

/// Nova matches the `name` filter as a regular expression anywhere in the name (MySQL's
/// REGEXP, case-insensitive). This supports the common subset: literals, `.`, bracket sets
/// (`[0-9a-f]`, `[^-]`), `*`, `+`, `?`, `^`, `$` and `\` escapes.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let pat: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = name.to_lowercase().chars().collect();
    if let Some(rest) = pat.strip_prefix(&['^']) {
        return match_here(rest, &text);
    }
    (0..=text.len()).any(|i| match_here(&pat, &text[i..]))
}

/// What one pattern element matches.
enum Class {
    /// `.`: any character.
    Any,
    /// One character.
    Char(char),
    /// A bracket set: its ranges (single characters as `c..=c`), and whether it is negated.
    Set(Vec<(char, char)>, bool),
}

impl Class {
    fn hits(&self, c: char) -> bool {
        match self {
            Class::Any => true,
            Class::Char(x) => *x == c,
            Class::Set(ranges, negated) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
        }
    }
}

/// One pattern element and how many pattern characters it used.
fn atom(pat: &[char]) -> Option<(Class, usize)> {
    match pat.first()? {
        '\\' => pat.get(1).map(|&c| (Class::Char(c), 2)),
        '.' => Some((Class::Any, 1)),
        '[' => bracket(pat),
        &c => Some((Class::Char(c), 1)),
    }
}

/// A bracket set starting at `pat[0] == '['`; an unclosed `[` is a literal.
fn bracket(pat: &[char]) -> Option<(Class, usize)> {
    let negated = pat.get(1) == Some(&'^');
    let mut i = if negated { 2 } else { 1 };
    let mut ranges = Vec::new();
    let first = i;
    while let Some(&c) = pat.get(i) {
        if c == ']' && i > first {
            return Some((Class::Set(ranges, negated), i + 1));
        }
        match (pat.get(i + 1), pat.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    Some((Class::Char('['), 1))
}

fn match_here(pat: &[char], text: &[char]) -> bool {
    if pat.is_empty() {
        return true;
    }
    if pat == ['$'] {
        return text.is_empty();
    }
    let Some((class, used)) = atom(pat) else { return false };
    let hits = |c: &char| class.hits(*c);
    let rest = &pat[used..];
    match rest.first() {
        Some('*') | Some('+') | Some('?') => {
            let (min, max) = match rest[0] {
                '*' => (0, usize::MAX),
                '+' => (1, usize::MAX),
                _ => (0, 1),
            };
            let run = text.iter().take_while(|c| hits(c)).count().min(max);
            (min..=run).rev().any(|n| match_here(&rest[1..], &text[n..]))
        }
        _ => text.first().is_some_and(hits) && match_here(rest, &text[1..]),
    }
}
