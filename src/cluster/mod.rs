//! Cluster: which documents are copies of which, and which copy is kept?
//!
//! Confirmed pairs are joined into connected components. A component can chain
//! unrelated documents through a series of borderline links (A≈B, B≈C, but A≠C), so
//! membership is decided again inside each component: members are visited in keep
//! order (first in input, or longest), and each becomes a duplicate of the first
//! kept document it is similar to, or is kept itself. Every dropped document is thus
//! directly similar (≥ threshold) to the document it is a duplicate of.

use rayon::prelude::*;

mod decide;
mod history;
mod lists;

pub use decide::{Clustering, Role, cluster_docs, cluster_docs_with_components};
pub use history::History;
pub use lists::{Clusters, ClustersBuilder, Components};

use crate::lsh::{DocId, Edge, Edges};
use crate::spill::{SpillArray, SpillDir};

/// Bins of the similarity histograms ([`Clustering::rejected_checks`]): equal widths
/// over [0, 1], the last one closed.
pub const SIMILARITY_BINS: usize = 50;

/// The bin of similarity `s` (clamped to [0, 1]).
pub fn similarity_bin(s: f64) -> usize {
    ((s.clamp(0.0, 1.0) * SIMILARITY_BINS as f64) as usize).min(SIMILARITY_BINS - 1)
}

/// Union-find over document ids with path halving and union by size.
/// Its two arrays live in memory or, past `ram_limit` bytes each, in memory-mapped
/// temporary files ([`SpillArray`]).
pub struct UnionFind {
    parent: SpillArray<DocId>,
    size: SpillArray<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: SpillArray::Ram((0..n as DocId).collect()),
            size: SpillArray::Ram(vec![1; n]),
        }
    }

    /// [`UnionFind::new`] holding at most `ram_limit` bytes per array in memory.
    pub fn within(n: usize, ram_limit: usize, dir: &SpillDir) -> std::io::Result<Self> {
        let mut parent = SpillArray::new(n, 0, ram_limit, dir)?;
        parent
            .iter_mut()
            .enumerate()
            .for_each(|(d, p)| *p = d as DocId);
        Ok(UnionFind {
            parent,
            size: SpillArray::new(n, 1, ram_limit, dir)?,
        })
    }

    pub fn find(&mut self, mut x: DocId) -> DocId {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    pub fn union(&mut self, a: DocId, b: DocId) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
    }
}

/// Connected components of the edge graph with two or more members, each sorted by
/// document id, the list sorted by first member.
pub fn components(n_docs: usize, edges: &[Edge]) -> Components {
    let label = SpillArray::Ram(vec![NO_LABEL; n_docs]);
    components_of(
        UnionFind::new(n_docs),
        label,
        edges.iter().copied(),
        usize::MAX,
        &SpillDir::default(),
    )
    .unwrap_or_else(|e| unreachable!("components in memory do no I/O: {e}"))
}

/// [`components`] of `edges` (read as they are merged when they went to disk) and
/// `more`, with the union-find's arrays and the components past `ram_limit` bytes
/// each in temporary files (`--mem-limit`).
pub fn components_within(
    n_docs: usize,
    edges: &Edges,
    more: impl Iterator<Item = Edge>,
    ram_limit: usize,
    dir: &SpillDir,
) -> std::io::Result<Components> {
    let mut uf = UnionFind::within(n_docs, ram_limit, dir)?;
    edges.for_each(|e| uf.union(e.a, e.b))?;
    let label = SpillArray::new(n_docs, NO_LABEL, ram_limit, dir)?;
    components_of(uf, label, more, ram_limit, dir)
}

/// A root not given a component yet.
const NO_LABEL: u32 = u32::MAX;

/// Components from the union-find after `edges`, in two visits of the documents in
/// order: the first numbers each component at its first member (`label[root]`) and
/// so knows where it starts; the second puts every member in place, so members come
/// sorted with no list of the documents involved and no sort. The union-find's
/// sizes count down the members still to place.
fn components_of(
    mut uf: UnionFind,
    mut label: SpillArray<u32>,
    edges: impl Iterator<Item = Edge>,
    ram_limit: usize,
    dir: &SpillDir,
) -> std::io::Result<Components> {
    for e in edges {
        uf.union(e.a, e.b);
    }
    let n = label.len() as DocId;
    let mut next = 0u32;
    let mut sizes = crate::spill::SpillVec::new(ram_limit, dir.clone());
    for d in 0..n {
        let root = uf.find(d);
        let size = uf.size[root as usize];
        if size >= 2 && label[root as usize] == NO_LABEL {
            label[root as usize] = next;
            next += 1;
            sizes.push(size as u64)?;
        }
    }
    sizes.finish()?;
    let mut comps = Components::with_sizes(sizes.iter().copied(), ram_limit, dir)?;
    drop(sizes);
    for d in 0..n {
        let root = uf.find(d) as usize;
        let l = label[root];
        if l == NO_LABEL {
            continue;
        }
        let left = &mut uf.size[root];
        let at = comps.get(l as usize).len() - *left as usize;
        *left -= 1;
        comps.fill(l as usize, at, d);
    }
    Ok(comps)
}

/// The role of every document of a run, 16 bytes each: in memory, or under
/// `--mem-limit` past its share a memory-mapped temporary file
/// ([`crate::spill::SpillArray`]).
pub struct Roles(SpillArray<[u64; 2]>);

/// `cluster` of a role without one.
const NO_CLUSTER: u64 = u32::MAX as u64;

impl Roles {
    /// `n` documents, all [`Role::Unique`].
    pub fn new(n: usize, ram_limit: usize, dir: &SpillDir) -> std::io::Result<Roles> {
        SpillArray::new(n, pack_role(Role::Unique), ram_limit, dir).map(Roles)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The role of document `d` (`None` past the run's documents).
    pub fn get(&self, d: usize) -> Option<Role> {
        self.0.get(d).map(|&c| unpack_role(c))
    }

    pub fn set(&mut self, d: usize, role: Role) {
        self.0[d] = pack_role(role);
    }

    /// Every role, in document order.
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().map(|&c| unpack_role(c))
    }
}

/// A role as two words: the similarity's bits, then cluster (high half) and the kept
/// document (low half); roles without a cluster say which they are in the low half.
fn pack_role(r: Role) -> [u64; 2] {
    let (sim, cluster, low) = match r {
        Role::Unique => (0.0, NO_CLUSTER, 0),
        Role::Rejected => (0.0, NO_CLUSTER, 1),
        Role::Emptied => (0.0, NO_CLUSTER, 2),
        Role::Keep { cluster } => (0.0, cluster as u64, u32::MAX as u64),
        Role::Duplicate {
            cluster,
            of,
            similarity,
        } => (similarity, cluster as u64, of as u64),
    };
    [sim.to_bits(), (cluster << 32) | low]
}

fn unpack_role([sim, word]: [u64; 2]) -> Role {
    let (cluster, low) = (word >> 32, word & 0xffff_ffff);
    match (cluster, low) {
        (NO_CLUSTER, 1) => Role::Rejected,
        (NO_CLUSTER, 2) => Role::Emptied,
        (NO_CLUSTER, _) => Role::Unique,
        (c, l) if l == u32::MAX as u64 => Role::Keep { cluster: c as u32 },
        (c, of) => Role::Duplicate {
            cluster: c as u32,
            of: of as DocId,
            similarity: f64::from_bits(sim),
        },
    }
}

/// The decision for one duplicate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Duplicate {
    pub doc: DocId,
    /// The kept document it copies.
    pub of: DocId,
    pub similarity: f64,
}

/// A kept document and its duplicates (at least one).
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub keep: DocId,
    /// Sorted by document id.
    pub duplicates: Vec<Duplicate>,
}

/// What assigning members inside components did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AssignStats {
    /// Components of two or more documents (before splitting).
    pub components: u64,
    pub largest_component: u64,
    /// Similarity checks made while assigning members to kept documents.
    pub checks: u64,
    /// Checks that fell below the threshold.
    pub rejected: u64,
    /// Components that had to be split because not every member was similar enough to
    /// one kept document (the chaining guard at work).
    pub split_components: u64,
}

/// Assign the members of every component to kept documents. `rank` orders members
/// for keeping (smaller first); `similar` returns the similarity of two documents, or
/// `None` when below the threshold. Clusters come out sorted by kept document.
pub fn assign<R, S>(comps: &[Vec<DocId>], rank: R, similar: S) -> (Vec<Cluster>, AssignStats)
where
    R: Fn(DocId) -> (u64, DocId) + Sync,
    S: Fn(DocId, DocId) -> Option<f64> + Sync,
{
    let comps = Components::from_lists(comps);
    assign_within(&comps, rank, similar, usize::MAX, &SpillDir::default())
        .map(|(c, stats)| (Vec::from(&c), stats))
        .unwrap_or_else(|e| unreachable!("clusters in memory do no I/O: {e}"))
}

/// [`assign`] over components in batches of a few thousand members, each batch in
/// parallel, the clusters past `ram_limit` bytes per array in temporary files.
pub fn assign_within<R, S>(
    comps: &Components,
    rank: R,
    similar: S,
    ram_limit: usize,
    dir: &SpillDir,
) -> std::io::Result<(Clusters, AssignStats)>
where
    R: Fn(DocId) -> (u64, DocId) + Sync,
    S: Fn(DocId, DocId) -> Option<f64> + Sync,
{
    let mut stats = AssignStats {
        components: comps.len() as u64,
        largest_component: comps.iter().map(|c| c.len() as u64).max().unwrap_or(0),
        ..Default::default()
    };
    // About 64 bytes of working memory per member (its rank, its decision).
    let batch_members = (ram_limit / 64).max(1 << 12);
    let mut out = ClustersBuilder::new(ram_limit, dir);
    let mut next = 0;
    while next < comps.len() {
        let mut end = next;
        let mut members = 0;
        while end < comps.len() && (end == next || members < batch_members) {
            members += comps.get(end).len();
            end += 1;
        }
        let per: Vec<(Vec<Cluster>, u64, u64, bool)> = (next..end)
            .into_par_iter()
            .map(|c| assign_one(comps.get(c), &rank, &similar))
            .collect();
        for (cs, checks, rejected, split) in per {
            cs.iter().try_for_each(|c| out.push(c))?;
            stats.checks += checks;
            stats.rejected += rejected;
            stats.split_components += split as u64;
        }
        next = end;
    }
    Ok((out.finish()?, stats))
}

fn assign_one<R, S>(members: &[DocId], rank: &R, similar: &S) -> (Vec<Cluster>, u64, u64, bool)
where
    R: Fn(DocId) -> (u64, DocId),
    S: Fn(DocId, DocId) -> Option<f64>,
{
    let mut order: Vec<DocId> = members.to_vec();
    order.sort_unstable_by_key(|&d| rank(d));
    let mut kept: Vec<Cluster> = Vec::new();
    let (mut checks, mut rejected) = (0u64, 0u64);
    for &d in &order {
        let mut best: Option<(usize, f64)> = None;
        for (i, c) in kept.iter().enumerate() {
            checks += 1;
            match similar(c.keep, d) {
                Some(s) if best.is_none_or(|(_, b)| s > b) => best = Some((i, s)),
                Some(_) => {}
                None => rejected += 1,
            }
        }
        match best {
            Some((i, s)) => {
                let keep = kept[i].keep;
                kept[i].duplicates.push(Duplicate {
                    doc: d,
                    of: keep,
                    similarity: s,
                });
            }
            None => kept.push(Cluster {
                keep: d,
                duplicates: Vec::new(),
            }),
        }
    }
    let split = kept.len() > 1;
    kept.retain(|c| !c.duplicates.is_empty());
    for c in &mut kept {
        c.duplicates.sort_unstable_by_key(|x| x.doc);
    }
    (kept, checks, rejected, split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_pack_and_unpack() {
        let all = [
            Role::Unique,
            Role::Rejected,
            Role::Emptied,
            Role::Keep { cluster: 0 },
            Role::Keep { cluster: 7 },
            Role::Duplicate {
                cluster: 3,
                of: 0,
                similarity: 0.8125,
            },
            Role::Duplicate {
                cluster: u32::MAX - 1,
                of: u32::MAX - 1,
                similarity: 1.0,
            },
        ];
        for spill in [usize::MAX, 0] {
            let mut roles = Roles::new(all.len() + 1, spill, &SpillDir::default()).expect("roles");
            assert_eq!(roles.0.spilled(), spill == 0);
            for (d, &r) in all.iter().enumerate() {
                roles.set(d, r);
            }
            let got: Vec<Role> = roles.iter().collect();
            assert_eq!(&got[..all.len()], &all);
            assert_eq!(roles.get(all.len()), Some(Role::Unique));
            assert_eq!(roles.get(all.len() + 1), None);
        }
    }

    fn edge(a: DocId, b: DocId) -> Edge {
        Edge {
            a,
            b,
            similarity: 0.9,
        }
    }

    fn assign_all(
        comps: &Components,
        rank: impl Fn(DocId) -> (u64, DocId) + Sync,
        sim: impl Fn(DocId, DocId) -> Option<f64> + Sync,
    ) -> (Vec<Cluster>, AssignStats) {
        let (c, stats) =
            assign_within(comps, rank, sim, usize::MAX, &SpillDir::default()).expect("assign");
        (Vec::from(&c), stats)
    }

    #[test]
    fn spilled_components_and_clusters_are_the_same() {
        // In each block of five, components {0, 4} and {1, 2, 3} keeping 4 and 3:
        // clusters by kept document are not in the components' order.
        let n = 30_000;
        let mut edges = Vec::new();
        for d in (0..n as DocId).step_by(5) {
            edges.extend([edge(d, d + 4), edge(d + 1, d + 2), edge(d + 2, d + 3)]);
        }
        let rank = |d: DocId| ((d % 5 < 3) as u64, d);
        let sim = |a: DocId, b: DocId| Some(0.8 + (a ^ b) as f64 / 1e6);
        let comps = components(n, &edges);
        let (want, want_stats) = assign_all(&comps, rank, sim);
        assert_eq!(want.len(), 12_000);
        assert_eq!((want[0].keep, want[1].keep, want[2].keep), (3, 4, 8));
        assert_eq!(want[0].duplicates.len(), 2);
        let dir = SpillDir::default();
        let spilled = components_within(n, &Edges::Ram(edges), std::iter::empty(), 0, &dir)
            .expect("components");
        assert!(spilled.spilled());
        assert_eq!(spilled.members(), comps.members());
        assert_eq!(spilled.len(), comps.len());
        // 4,096 members a batch: several batches.
        let (got, stats) = assign_within(&spilled, rank, sim, 0, &dir).expect("assign");
        assert!(got.spilled());
        assert_eq!(Vec::from(&got), want);
        assert_eq!(stats.checks, want_stats.checks);
        assert_eq!(stats.components, 12_000);
    }

    #[test]
    fn components_are_sorted() {
        let comps = components(10, &[edge(5, 7), edge(1, 2), edge(2, 9)]);
        let lists: Vec<&[DocId]> = comps.iter().collect();
        assert_eq!(lists, vec![&[1, 2, 9][..], &[5, 7][..]]);
    }

    #[test]
    fn chain_is_split() {
        // 0≈1 and 1≈2, but 0 and 2 are not similar: 2 must not be dropped as a copy of 0.
        let comps = components(3, &[edge(0, 1), edge(1, 2)]);
        let sim = |a: DocId, b: DocId| {
            let (a, b) = (a.min(b), a.max(b));
            match (a, b) {
                (0, 1) | (1, 2) => Some(0.85),
                _ => None,
            }
        };
        let (clusters, stats) = assign_all(&comps, |d| (0, d), sim);
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].keep, 0);
        assert_eq!(clusters[0].duplicates.len(), 1);
        assert_eq!(clusters[0].duplicates[0].doc, 1);
        assert_eq!(stats.split_components, 1);
    }

    #[test]
    fn longest_is_kept() {
        let comps = components(3, &[edge(0, 1), edge(0, 2)]);
        let lens = [10u64, 30, 20];
        let (clusters, _) = assign_all(
            &comps,
            |d| (u64::MAX - lens[d as usize], d),
            |_, _| Some(0.9),
        );
        assert_eq!(clusters[0].keep, 1);
        let dups: Vec<DocId> = clusters[0].duplicates.iter().map(|d| d.doc).collect();
        assert_eq!(dups, vec![0, 2]);
    }
}
