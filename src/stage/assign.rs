//! `assign`: which copy of each component is kept, decided as `clean` decides it.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::boilerplate::Rules;
use crate::cluster;
use crate::config::DedupConfig;
use crate::config::KeepPolicy;
use crate::config::Verify;
use crate::lsh::DocId;
use crate::minhash::{self, Slot};
use crate::sketch::{Buffers, Sketch};
use crate::verify::{self, Judged, Verifier};

use super::*;

/// A component member: its dedup sketch line and its record envelope.
#[derive(Deserialize)]
pub(super) struct MemberIn<'a> {
    #[serde(borrow)]
    sketch: SketchIn<'a>,
    #[serde(borrow)]
    input: Envelope<'a>,
}

#[derive(Serialize)]
pub(super) struct ClusterMember<'a> {
    row: u64,
    id: &'a str,
    similarity: f64,
}

#[derive(Serialize)]
pub(super) struct ClusterLine<'a> {
    keep: u64,
    members: Vec<ClusterMember<'a>>,
}

/// Decides components as `clean` does: which member is kept, and how similar each
/// duplicate is to it.
pub(super) struct Assigner {
    pub cfg: DedupConfig,
    sk: Sketch,
    verifier: Verifier,
}

/// A cluster of a component: its kept member's index, and every member's index
/// with its similarity to the kept one, in row order.
pub(super) type MemberCluster = (usize, Vec<(usize, f64)>);

/// A component's member: its row, the length of its stripped text and its signature.
pub(super) struct Member {
    pub row: u64,
    pub len: u64,
    pub sig: Vec<Slot>,
}

impl Assigner {
    pub fn new(sc: &StageConfig, rules: Option<Rules>) -> Result<Self, StageError> {
        let cfg = sc.dedup_config()?;
        Ok(Assigner {
            sk: Sketch::new(&cfg).with_stripper(Some(stripper(rules))),
            verifier: Verifier::new(&cfg),
            cfg,
        })
    }

    /// The clusters of one component (members sorted by row, each once): `(kept
    /// member, [(member, similarity)])`, all members in row order. `text_of(i)` is
    /// member i's text as read, asked for only when `--verify` needs its shingles.
    pub fn clusters(
        &self,
        members: &[Member],
        text_of: impl Fn(usize) -> Result<String, LineError>,
    ) -> Result<Vec<MemberCluster>, LineError> {
        let cfg = &self.cfg;
        let set_of = |i: usize| -> Result<Vec<u64>, LineError> {
            let text = text_of(i)?;
            let mut buf = Buffers::default();
            let (text, _) = self.sk.prepare(&text, &mut buf);
            Ok(self.sk.shingle_set(&text, &mut buf))
        };
        let mut sets: HashMap<DocId, Vec<u64>> = HashMap::new();
        if cfg.verify == Verify::Exact {
            for i in 0..members.len() {
                sets.insert(i as DocId, set_of(i)?);
            }
        }
        let comps = vec![(0..members.len() as DocId).collect::<Vec<_>>()];
        let rank = |d: DocId| match cfg.keep {
            KeepPolicy::First => (1, d),
            KeepPolicy::Longest => ((u64::MAX - members[d as usize].len).max(1), d),
        };
        // The rounds of `clean` for `--verify auto`, within this component: the
        // shingle sets of borderline pairs are computed after a round that lacked them.
        let mut rounds = 0;
        let clusters = loop {
            rounds += 1;
            let missing: Mutex<Vec<DocId>> = Mutex::new(Vec::new());
            let (clusters, _) = cluster::assign(&comps, rank, |a, b| {
                let est = minhash::estimate(&members[a as usize].sig, &members[b as usize].sig);
                let judged = self.verifier.judge(est, || {
                    let (x, y) = sets.get(&a).zip(sets.get(&b))?;
                    Some((&x[..], &y[..]))
                });
                if let Judged::Missing(_) = judged
                    && let Ok(mut m) = missing.lock()
                {
                    m.extend([a, b]);
                }
                judged.similarity()
            });
            let mut missing = missing.into_inner().unwrap_or_default();
            missing.retain(|d| !sets.contains_key(d));
            missing.sort_unstable();
            missing.dedup();
            if missing.is_empty() || rounds >= verify::MAX_VERIFY_ROUNDS {
                break clusters;
            }
            for d in missing {
                sets.insert(d, set_of(d as usize)?);
            }
        };
        Ok(clusters
            .into_iter()
            .map(|c| {
                let mut cm = vec![(c.keep as usize, 1.0)];
                cm.extend(c.duplicates.iter().map(|d| (d.doc as usize, d.similarity)));
                cm.sort_unstable_by_key(|m| m.0);
                (c.keep as usize, cm)
            })
            .collect())
    }
}

/// `stage assign`: for each component (`{"members": [{"sketch", "input"}]}`), the
/// clusters `clean` makes of it: one line per kept document with duplicates,
/// `{"keep": row, "members": [{"row", "id", "similarity"}]}`, members in row order.
pub fn assign(
    sc: &StageConfig,
    rules: Option<Rules>,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let assigner = Assigner::new(sc, rules)?;
    let k = assigner.cfg.num_perm;
    let read = assigner.cfg.read.clone();
    for_each_line(input, name, |line| {
        let g: Group<MemberIn<'_>> = parse_line(line, "component ({\"members\": [...]})")?;
        let mut inputs = g.members;
        inputs.sort_unstable_by_key(|m| m.sketch.row);
        inputs.dedup_by_key(|m| m.sketch.row);
        let members: Vec<Member> = inputs
            .iter()
            .map(|m| match m.sketch.sig.as_deref() {
                Some(s) => Ok(Member {
                    row: m.sketch.row,
                    len: m.sketch.len,
                    sig: slots_of_hex(s, k)?,
                }),
                None => Err(format!(
                    "row {}: a member without a signature",
                    m.sketch.row
                )),
            })
            .collect::<Result<_, String>>()?;
        let ids: Vec<String> = inputs
            .iter()
            .map(|m| {
                m.sketch
                    .id
                    .as_deref()
                    .map_or_else(|| m.input.default_id(), str::to_string)
            })
            .collect();
        let clusters = assigner.clusters(&members, |i| {
            let bytes = inputs[i].input.bytes()?;
            let doc = inputs[i].input.doc(&bytes, &read)?;
            Ok(doc.text.into_owned())
        })?;
        for (keep, cm) in clusters {
            let line = ClusterLine {
                keep: members[keep].row,
                members: cm
                    .into_iter()
                    .map(|(i, similarity)| ClusterMember {
                        row: members[i].row,
                        id: &ids[i],
                        similarity,
                    })
                    .collect(),
            };
            write_json(out, &line)?;
        }
        Ok(())
    })
}
