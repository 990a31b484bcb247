//! `assign`: which copy of each component is kept, decided as `clean` decides it.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::boilerplate::Rules;
use crate::cluster;
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
    let cfg = sc.dedup_config()?;
    let sk = Sketch::new(&cfg).with_stripper(Some(stripper(rules)));
    let k = cfg.num_perm;
    let verifier = Verifier::new(&cfg);
    for_each_line(input, name, |line| {
        let g: Group<MemberIn<'_>> = parse_line(line, "component ({\"members\": [...]})")?;
        let mut members = g.members;
        members.sort_unstable_by_key(|m| m.sketch.row);
        members.dedup_by_key(|m| m.sketch.row);
        let sigs: Vec<Vec<Slot>> = members
            .iter()
            .map(|m| match m.sketch.sig.as_deref() {
                Some(s) => slots_of_hex(s, k),
                None => Err(format!(
                    "row {}: a member without a signature",
                    m.sketch.row
                )),
            })
            .collect::<Result<_, String>>()?;
        let ids: Vec<String> = members
            .iter()
            .map(|m| {
                m.sketch
                    .id
                    .as_deref()
                    .map_or_else(|| m.input.default_id(), str::to_string)
            })
            .collect();
        let set_of = |i: usize| -> Result<Vec<u64>, LineError> {
            let bytes = members[i].input.bytes()?;
            let doc = members[i].input.doc(&bytes, &cfg.read)?;
            let mut buf = Buffers::default();
            let (text, _) = sk.prepare(&doc.text, &mut buf);
            Ok(sk.shingle_set(&text, &mut buf))
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
            KeepPolicy::Longest => ((u64::MAX - members[d as usize].sketch.len).max(1), d),
        };
        // The rounds of `clean` for `--verify auto`, within this component: the
        // shingle sets of borderline pairs are computed after a round that lacked them.
        let mut rounds = 0;
        let clusters = loop {
            rounds += 1;
            let missing: Mutex<Vec<DocId>> = Mutex::new(Vec::new());
            let (clusters, _) = cluster::assign(&comps, rank, |a, b| {
                let est = minhash::estimate(&sigs[a as usize], &sigs[b as usize]);
                let judged = verifier.judge(est, || {
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
        for c in clusters {
            let mut cm = vec![ClusterMember {
                row: members[c.keep as usize].sketch.row,
                id: &ids[c.keep as usize],
                similarity: 1.0,
            }];
            cm.extend(c.duplicates.iter().map(|d| ClusterMember {
                row: members[d.doc as usize].sketch.row,
                id: &ids[d.doc as usize],
                similarity: d.similarity,
            }));
            cm.sort_unstable_by_key(|m| m.row);
            let line = ClusterLine {
                keep: members[c.keep as usize].sketch.row,
                members: cm,
            };
            write_json(out, &line)?;
        }
        Ok(())
    })
}
