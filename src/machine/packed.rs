//! Rollout histories in a snapshot, packed: a history of a hundred
//! thousand deployments is most of a long-lived state, and written as one
//! JSON object per deployment it is most of a snapshot's bytes and of the
//! time a start spends reading them. Packed, each deployment is one row of
//! small numbers (its release and who asked for it as indices into tables
//! of names, its times as differences), the rows in base64; what few
//! deployments carry beyond that (a rollback's origin, evidence, a problem,
//! approvals, break glass, an effect key) is kept beside them as JSON.
//!
//! The packing is exact: every deployment unpacks to what was packed
//! (property-tested, `tests/snapshot_format.rs`), and a row that does not
//! read is an error, never a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::{Deployment, DeploymentOrigin, Notes, RolloutHistory};
use super::lifecycle::DeploymentStatus;
use crate::model::{Actor, ReleaseId, Revision};

/// A history's deployments, packed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Packed {
    /// The releases the rows name, each once, in order of first use.
    releases: Vec<ReleaseId>,
    /// Who requested them, each once.
    actors: Vec<Actor>,
    /// How many rows there are.
    count: u32,
    /// The rows, base64.
    rows: String,
    /// What rows carry beyond the row, by row index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    extras: BTreeMap<u32, Extra>,
}

/// What a deployment carries that a row does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extra {
    /// A rollback's origin (none: a plain deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<DeploymentOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    approvals: BTreeSet<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    break_glass: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effect: Option<super::effect::IdempotencyKey>,
}

impl Extra {
    fn of(d: &Deployment) -> Option<Extra> {
        let notes = d.notes();
        let extra = Extra {
            origin: notes.and_then(|n| n.rollback.clone()),
            evidence: d.evidence.clone(),
            problem: notes.and_then(|n| n.problem.clone()),
            approvals: notes.map(|n| n.approvals.clone()).unwrap_or_default(),
            break_glass: notes.and_then(|n| n.break_glass.clone()),
            effect: d.effect.clone(),
        };
        (extra != Extra::default()).then_some(extra)
    }
}

const COMPLETED: u8 = 1;
const VERIFIED: u8 = 2;
const ENDED: u8 = 4;
const EXTRA: u8 = 8;

const STATUSES: [DeploymentStatus; 8] = [
    DeploymentStatus::Requested,
    DeploymentStatus::RollingOut,
    DeploymentStatus::Verifying,
    DeploymentStatus::KnownGood,
    DeploymentStatus::Failed,
    DeploymentStatus::Aborted,
    DeploymentStatus::Superseded,
    DeploymentStatus::RolledBack,
];

fn status_code(status: DeploymentStatus) -> u8 {
    STATUSES
        .iter()
        .zip(0_u8..)
        .find_map(|(s, code)| (*s == status).then_some(code))
        .unwrap_or(u8::MAX)
}

/// Packs `deployments`.
pub(super) fn pack<'a>(deployments: impl Iterator<Item = &'a Deployment>) -> Packed {
    let mut packed = Packed::default();
    let mut releases: BTreeMap<&ReleaseId, u64> = BTreeMap::new();
    let mut actors: BTreeMap<&Actor, u64> = BTreeMap::new();
    let mut out = Vec::new();
    let mut before = 0_i64;
    for (row, d) in (0_u32..).zip(deployments) {
        let extra = Extra::of(d);
        let mut flags = 0;
        for (present, bit) in [
            (d.completed_at.is_some(), COMPLETED),
            (d.verified_at.is_some(), VERIFIED),
            (d.ended_at.is_some(), ENDED),
            (extra.is_some(), EXTRA),
        ] {
            if present {
                flags |= bit;
            }
        }
        out.push(flags);
        varint(&mut out, u64::from(d.revision.get()));
        let next = releases.len() as u64;
        let release = *releases.entry(&d.release).or_insert_with(|| {
            packed.releases.push(d.release.clone());
            next
        });
        varint(&mut out, release);
        out.push(status_code(d.status));
        let next = actors.len() as u64;
        let actor = *actors.entry(&d.requested_by).or_insert_with(|| {
            packed.actors.push(d.requested_by.clone());
            next
        });
        varint(&mut out, actor);
        let at = d.requested_at.timestamp();
        varint(&mut out, zigzag(at.wrapping_sub(before)));
        varint(&mut out, u64::from(d.requested_at.timestamp_subsec_nanos()));
        before = at;
        for t in [d.completed_at, d.verified_at, d.ended_at]
            .into_iter()
            .flatten()
        {
            varint(&mut out, zigzag(t.timestamp().wrapping_sub(at)));
            varint(&mut out, u64::from(t.timestamp_subsec_nanos()));
        }
        if let Some(extra) = extra {
            packed.extras.insert(row, extra);
        }
        packed.count = row.saturating_add(1);
    }
    packed.rows = base64::encode(&out);
    packed
}

/// Unpacks `packed`, or says what does not read.
pub(super) fn unpack(packed: Packed) -> Result<Vec<Deployment>, String> {
    let bytes = base64::decode(&packed.rows).ok_or("the rows are not base64")?;
    let mut r = Reader {
        bytes: &bytes,
        at: 0,
    };
    let mut extras = packed.extras;
    // Never more rows than bytes: a count that says otherwise is refused
    // below, and reserves no more than the bytes could hold.
    let mut out = Vec::with_capacity(
        usize::try_from(packed.count)
            .unwrap_or(usize::MAX)
            .min(bytes.len()),
    );
    let mut before = 0_i64;
    let mut days = Days::default();
    let mut row = 0_u32;
    while !r.done() {
        let flags = r.byte()?;
        if flags & !(COMPLETED | VERIFIED | ENDED | EXTRA) != 0 {
            return Err(format!("row {row} has unknown flags {flags:#x}"));
        }
        let revision = u32::try_from(r.varint()?)
            .map_err(|_| format!("row {row}: the revision is out of range"))?;
        let release = index(&packed.releases, r.varint()?, row, "release")?;
        let status = *STATUSES
            .get(usize::from(r.byte()?))
            .ok_or_else(|| format!("row {row}: unknown status"))?;
        let requested_by = index(&packed.actors, r.varint()?, row, "actor")?;
        let at = before.wrapping_add(unzigzag(r.varint()?));
        before = at;
        let requested_at = days.time(at, r.varint()?, row)?;
        let mut later = |bit: u8| -> Result<Option<DateTime<Utc>>, String> {
            if flags & bit == 0 {
                return Ok(None);
            }
            let secs = at.wrapping_add(unzigzag(r.varint()?));
            days.time(secs, r.varint()?, row).map(Some)
        };
        let completed_at = later(COMPLETED)?;
        let verified_at = later(VERIFIED)?;
        let ended_at = later(ENDED)?;
        let extra = if flags & EXTRA == 0 {
            Extra::default()
        } else {
            extras
                .remove(&row)
                .ok_or_else(|| format!("row {row} says it has extras and none are kept"))?
        };
        out.push(
            Deployment {
                revision: Revision(revision),
                release,
                status,
                requested_by,
                requested_at,
                completed_at,
                verified_at,
                evidence: extra.evidence,
                ended_at,
                effect: extra.effect,
                notes: None,
            }
            .with_notes(Notes {
                rollback: extra.origin,
                problem: extra.problem,
                approvals: extra.approvals,
                break_glass: extra.break_glass,
            }),
        );
        row = row.saturating_add(1);
    }
    if row != packed.count {
        return Err(format!(
            "{row} rows are kept where {} are said",
            packed.count
        ));
    }
    if let Some(stray) = extras.keys().next() {
        return Err(format!("extras are kept for row {stray}, which has none"));
    }
    Ok(out)
}

/// A history as it is stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredHistory {
    current: Option<Revision>,
    deployments: Packed,
}

impl Serialize for RolloutHistory {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredHistory {
            current: self.current,
            deployments: pack(self.deployments.iter()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RolloutHistory {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredHistory::deserialize(deserializer)?;
        let deployments = unpack(stored.deployments)
            .map_err(|e| serde::de::Error::custom(format!("a packed rollout history: {e}")))?;
        Ok(Self {
            deployments: super::cow::CowVec::from_vec(deployments),
            current: stored.current,
        })
    }
}

fn index<T: Clone>(table: &[T], i: u64, row: u32, what: &str) -> Result<T, String> {
    usize::try_from(i)
        .ok()
        .and_then(|i| table.get(i))
        .cloned()
        .ok_or_else(|| format!("row {row} names {what} {i}, which the table lacks"))
}

/// Times from seconds and nanoseconds, the day's date kept from one to
/// the next: a history's times mostly fall on a day just seen, and
/// finding a day's date is most of the work.
#[derive(Default)]
struct Days {
    /// The day (since the epoch) last seen, and its date.
    last: Option<(i64, chrono::NaiveDate)>,
}

impl Days {
    fn time(&mut self, secs: i64, nanos: u64, row: u32) -> Result<DateTime<Utc>, String> {
        let out_of_range = || format!("row {row} holds a time out of range");
        let day = secs.div_euclid(86_400);
        let date = match self.last {
            Some((seen, date)) if seen == day => date,
            _ => {
                let date = day
                    .checked_mul(86_400)
                    .and_then(|start| DateTime::from_timestamp(start, 0))
                    .ok_or_else(out_of_range)?
                    .date_naive();
                self.last = Some((day, date));
                date
            }
        };
        let of_day = u32::try_from(secs.rem_euclid(86_400)).map_err(|_| out_of_range())?;
        u32::try_from(nanos)
            .ok()
            .and_then(|n| chrono::NaiveTime::from_num_seconds_from_midnight_opt(of_day, n))
            .map(|time| date.and_time(time).and_utc())
            .ok_or_else(out_of_range)
    }
}

fn zigzag(v: i64) -> u64 {
    // Small magnitudes, either sign, to small numbers.
    u64::from_ne_bytes(((v << 1) ^ (v >> 63)).to_ne_bytes())
}

fn unzigzag(v: u64) -> i64 {
    i64::from_ne_bytes((v >> 1).to_ne_bytes())
        ^ i64::from_ne_bytes((v & 1).to_ne_bytes()).wrapping_neg()
}

/// LEB128.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let low = u8::try_from(v & 0x7f).unwrap_or(0);
        v >>= 7;
        if v == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("the rows end in the middle of one")?;
        self.at = self.at.saturating_add(1);
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0_u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f)
                .checked_shl(shift)
                .ok_or("a number in the rows is too long")?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number in the rows is too long".to_owned())
    }
}

/// Standard base64 with padding (RFC 4648), the one encoding a JSON string
/// holds bytes in without escapes.
mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub(super) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3).saturating_mul(4));
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for (i, shift) in [18_u32, 12, 6, 0].into_iter().enumerate() {
                if i <= chunk.len() {
                    let six = usize::try_from((n >> shift) & 63).unwrap_or(0);
                    out.push(char::from(ALPHABET[six]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Each byte's six bits, or 64 for a byte outside the alphabet.
    const VALUES: [u8; 256] = {
        let mut table = [64_u8; 256];
        let mut i = 0_u8;
        while i < 64 {
            table[ALPHABET[i as usize] as usize] = i;
            i += 1;
        }
        table
    };

    pub(super) fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.as_bytes();
        if !text.len().is_multiple_of(4) {
            return None;
        }
        let pad = text.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut out = Vec::with_capacity((text.len() / 4).saturating_mul(3));
        for quad in text.chunks_exact(4) {
            let mut n = 0_u32;
            let mut bad = 0_u8;
            for c in quad {
                let v = VALUES[usize::from(*c)];
                bad |= v;
                n = (n << 6) | u32::from(v & 63);
            }
            // A value of 64 (outside the alphabet, `=` included) sets bit 6.
            if bad & 64 != 0 {
                out.extend_from_slice(&n.to_be_bytes()[1..]);
                continue;
            }
            let [_, a, b, c] = n.to_be_bytes();
            out.extend_from_slice(&[a, b, c]);
        }
        // Only the last quad may hold `=`, and only at its end; the bits
        // the padding drops must be zero (one text per bytes).
        let body = text.len().saturating_sub(pad);
        if text[..body].iter().any(|c| VALUES[usize::from(*c)] == 64) {
            return None;
        }
        out.truncate(out.len().saturating_sub(pad));
        if pad > 0 {
            let last = text.len().saturating_sub(4);
            let kept = out.len().saturating_sub(3_usize.saturating_sub(pad));
            if encode(&out[kept..]).as_bytes() != &text[last..] {
                return None;
            }
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn base64_round_trips_and_refuses_what_is_not_canonical() {
            for bytes in [
                &b""[..],
                b"f",
                b"fo",
                b"foo",
                b"foob",
                b"fooba",
                b"foobar",
                &[0, 255, 128],
            ] {
                let text = super::encode(bytes);
                assert_eq!(super::decode(&text).as_deref(), Some(bytes), "{text}");
            }
            assert_eq!(super::encode(b"foobar"), "Zm9vYmFy");
            assert_eq!(super::encode(b"fo"), "Zm8=");
            for bad in ["Zm8", "Zm9=", "Z===", "Zm8=Zm8=", "Zm!v", "Zm=v"] {
                assert_eq!(super::decode(bad), None, "{bad}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        // Years 1 to 9999 and any nanosecond, and a cluster near now.
        prop_oneof![
            (-62_135_596_800_i64..253_402_300_799, 0_u32..1_000_000_000),
            (1_767_225_600_i64..1_767_312_000, 0_u32..1_000_000_000),
        ]
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
    }

    fn any_name() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z@.+0-9]{1,12}", "\\PC{0,6}", Just("ci".to_owned())]
    }

    prop_compose! {
        fn any_deployment()(
            revision in any::<u32>(),
            release in prop_oneof![Just("payments@1.0.0".to_owned()), any_name()],
            status in 0_usize..8,
            rollback in proptest::option::of((any::<u32>(), any::<u32>(), any_name())),
            by in prop_oneof![Just("ci".to_owned()), any_name()],
            requested_at in any_time(),
            completed_at in proptest::option::of(any_time()),
            verified_at in proptest::option::of(any_time()),
            ended_at in proptest::option::of(any_time()),
            evidence in proptest::option::of(any_name()),
            problem in proptest::option::of(any_name()),
            approvals in proptest::collection::btree_set(any_name(), 0..3),
            break_glass in proptest::option::of(any_name()),
            effect in proptest::option::of(any_name()),
        ) -> Deployment {
            Deployment {
                revision: Revision(revision),
                release: ReleaseId::new(release),
                status: STATUSES[status],
                requested_by: Actor::new(by),
                requested_at,
                completed_at,
                verified_at,
                evidence,
                ended_at,
                effect: effect.map(super::super::effect::IdempotencyKey::new),
                notes: None,
            }
            .with_notes(Notes {
                rollback: rollback.map(|(t, f, reason)| {
                    DeploymentOrigin::Rollback { target: Revision(t), rolled_back_from: Revision(f), reason }
                }),
                problem,
                approvals: approvals.into_iter().map(Actor::new).collect(),
                break_glass,
            })
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every history packs, is written as JSON, read back and
        /// unpacks to exactly what it was.
        #[test]
        fn packed_histories_round_trip_exactly(
            deployments in proptest::collection::vec(any_deployment(), 0..40),
            current in proptest::option::of(any::<u32>()),
        ) {
            let history = RolloutHistory {
                deployments: super::super::cow::CowVec::from_vec(deployments.clone()),
                current: current.map(Revision),
            };
            let json = serde_json::to_string(&history).unwrap();
            let back: RolloutHistory = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.deployments.iter().cloned().collect::<Vec<_>>(), deployments);
            prop_assert_eq!(back.current, history.current);
        }

        /// Damaged rows never read as deployments: an error, not a guess
        /// (or, for a flipped bit that still reads, a history that differs).
        #[test]
        fn damaged_rows_are_refused_or_differ(
            deployments in proptest::collection::vec(any_deployment(), 1..10),
            at in any::<usize>(),
            bit in 0_u8..8,
        ) {
            let packed = pack(deployments.iter());
            let mut bytes = base64::decode(&packed.rows).unwrap();
            let i = at.checked_rem(bytes.len()).unwrap_or(0);
            bytes[i] ^= 1 << bit;
            let damaged = Packed { rows: base64::encode(&bytes), ..packed };
            if let Ok(read) = unpack(damaged) {
                prop_assert_ne!(read, deployments);
            }
        }
    }

    proptest! {
        /// Keeping the day's date from one time to the next reads every
        /// time as chrono reads it, out-of-range ones refused alike.
        #[test]
        fn times_read_with_the_day_kept_are_chronos_own(
            times in proptest::collection::vec(
                prop_oneof![
                    (any::<i64>(), any::<u64>()),
                    (-62_135_596_800_i64..253_402_300_799, 0_u64..2_000_000_000),
                    (1_767_225_540_i64..1_767_225_660, 999_999_990_u64..1_000_000_010),
                ],
                1..30,
            ),
        ) {
            let mut days = Days::default();
            for (secs, nanos) in times {
                let chrono = u32::try_from(nanos).ok().and_then(|n| DateTime::from_timestamp(secs, n));
                prop_assert_eq!(days.time(secs, nanos, 0).ok(), chrono, "{} {}", secs, nanos);
            }
        }
    }

    #[test]
    fn zigzag_and_varints_round_trip_at_the_edges() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN, 1_767_225_600] {
            assert_eq!(unzigzag(zigzag(v)), v, "{v}");
            let mut out = Vec::new();
            varint(&mut out, zigzag(v));
            let mut r = Reader { bytes: &out, at: 0 };
            assert_eq!(r.varint().map(unzigzag), Ok(v));
            assert!(r.done());
        }
    }
}
