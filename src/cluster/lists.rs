//! Components and clusters as flat lists: one array of members and one of where
//! each list ends, so that under `--mem-limit` they move to temporary files past
//! their share instead of growing with the number of duplicates.

use std::io;

use rayon::prelude::*;

use super::{Cluster, Duplicate};
use crate::lsh::DocId;
use crate::spill::{SpillArray, SpillDir, SpillVec};

/// Connected components of two or more documents, each sorted by document id, in
/// order of their first member.
pub struct Components {
    /// Where each component ends in `members`.
    ends: SpillVec<u64>,
    members: SpillArray<DocId>,
}

impl Default for Components {
    fn default() -> Self {
        Components::from_lists(&[])
    }
}

impl Components {
    /// Components of the given `sizes` (in order), each member array past
    /// `ram_limit` bytes in a temporary file; [`Components::fill`] places members.
    pub(super) fn with_sizes(
        sizes: impl Iterator<Item = u64>,
        ram_limit: usize,
        dir: &SpillDir,
    ) -> io::Result<Components> {
        let mut ends = SpillVec::new(ram_limit, dir.clone());
        let mut total = 0u64;
        for s in sizes {
            total += s;
            ends.push(total)?;
        }
        ends.finish()?;
        let len = usize::try_from(total).map_err(io::Error::other)?;
        Ok(Components {
            ends,
            members: SpillArray::new(len, 0, ram_limit, dir)?,
        })
    }

    /// Put `d` at position `at` of component `c`.
    pub(super) fn fill(&mut self, c: usize, at: usize, d: DocId) {
        let start = self.start(c);
        self.members[start + at] = d;
    }

    /// In-memory components from lists (each sorted).
    pub fn from_lists(lists: &[Vec<DocId>]) -> Components {
        let mut ends = SpillVec::in_memory();
        let mut members = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for l in lists {
            members.extend_from_slice(l);
            // In memory: pushing cannot fail.
            let _ = ends.push(members.len() as u64);
        }
        Components {
            ends,
            members: SpillArray::Ram(members),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Documents in components, all together.
    pub fn members(&self) -> &[DocId] {
        &self.members
    }

    fn start(&self, c: usize) -> usize {
        if c == 0 { 0 } else { self.ends[c - 1] as usize }
    }

    /// Component `c`.
    pub fn get(&self, c: usize) -> &[DocId] {
        &self.members[self.start(c)..self.ends[c] as usize]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[DocId]> + '_ {
        (0..self.len()).map(|c| self.get(c))
    }

    /// Whether a temporary file holds the members.
    pub fn spilled(&self) -> bool {
        self.members.spilled()
    }
}

/// Clusters (a kept document and its duplicates) sorted by kept document. Cluster
/// `i` is the `i`-th in that order; each comes out as a [`Cluster`].
pub struct Clusters {
    /// `kept << 32 | written`, sorted: the order of the clusters, and where each was
    /// written.
    order: SpillArray<u64>,
    /// Where the duplicates of each written cluster end in `dups`.
    ends: SpillVec<u64>,
    /// Duplicates as `doc << 32 | of` and the similarity's bits.
    dups: SpillVec<[u64; 2]>,
}

impl Default for Clusters {
    fn default() -> Self {
        Clusters {
            order: SpillArray::Ram(Vec::new()),
            ends: SpillVec::in_memory(),
            dups: SpillVec::in_memory(),
        }
    }
}

impl Clusters {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Cluster `i` (in kept-document order).
    pub fn get(&self, i: usize) -> Cluster {
        let e = self.order[i];
        let (keep, at) = ((e >> 32) as DocId, (e & 0xffff_ffff) as usize);
        let start = if at == 0 {
            0
        } else {
            self.ends[at - 1] as usize
        };
        let duplicates = self.dups[start..self.ends[at] as usize]
            .iter()
            .map(|&[w, sim]| Duplicate {
                doc: (w >> 32) as DocId,
                of: (w & 0xffff_ffff) as DocId,
                similarity: f64::from_bits(sim),
            })
            .collect();
        Cluster { keep, duplicates }
    }

    /// Every cluster, in kept-document order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Cluster> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Whether a temporary file holds the duplicates.
    pub fn spilled(&self) -> bool {
        self.dups.spilled()
    }
}

impl From<&Clusters> for Vec<Cluster> {
    fn from(c: &Clusters) -> Vec<Cluster> {
        c.iter().collect()
    }
}

/// Clusters written in any order, then sorted by kept document.
pub struct ClustersBuilder {
    keeps: SpillVec<u64>,
    ends: SpillVec<u64>,
    dups: SpillVec<[u64; 2]>,
    ram_limit: usize,
    dir: SpillDir,
}

impl ClustersBuilder {
    /// Each array past `ram_limit` bytes goes to a temporary file in `dir`.
    pub fn new(ram_limit: usize, dir: &SpillDir) -> ClustersBuilder {
        ClustersBuilder {
            keeps: SpillVec::new(ram_limit, dir.clone()),
            ends: SpillVec::new(ram_limit, dir.clone()),
            dups: SpillVec::new(ram_limit, dir.clone()),
            ram_limit,
            dir: dir.clone(),
        }
    }

    pub fn push(&mut self, c: &Cluster) -> io::Result<()> {
        let at = self.keeps.len() as u64;
        self.keeps.push((c.keep as u64) << 32 | at)?;
        for d in &c.duplicates {
            self.dups
                .push([(d.doc as u64) << 32 | d.of as u64, d.similarity.to_bits()])?;
        }
        self.ends.push(self.dups.len() as u64)
    }

    pub fn finish(mut self) -> io::Result<Clusters> {
        self.keeps.finish()?;
        self.ends.finish()?;
        self.dups.finish()?;
        let mut order = SpillArray::new(self.keeps.len(), 0, self.ram_limit, &self.dir)?;
        order.copy_from_slice(&self.keeps);
        drop(self.keeps);
        // Every document keeps at most one cluster: the keys are distinct.
        order.par_sort_unstable();
        Ok(Clusters {
            order,
            ends: self.ends,
            dups: self.dups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(keep: DocId, dups: &[DocId]) -> Cluster {
        Cluster {
            keep,
            duplicates: dups
                .iter()
                .map(|&d| Duplicate {
                    doc: d,
                    of: keep,
                    similarity: 0.5 + d as f64 / 100.0,
                })
                .collect(),
        }
    }

    #[test]
    fn clusters_come_out_by_kept_document() {
        let want = vec![cluster(2, &[3]), cluster(5, &[0, 9, 11]), cluster(7, &[8])];
        for ram in [usize::MAX, 0] {
            let mut b = ClustersBuilder::new(ram, &SpillDir::default());
            for i in [1, 2, 0] {
                b.push(&want[i]).expect("push");
            }
            let got = b.finish().expect("finish");
            assert_eq!(got.spilled(), ram == 0);
            assert_eq!(Vec::from(&got), want);
            assert_eq!(got.get(1), want[1]);
        }
    }

    #[test]
    fn components_from_lists() {
        let c = Components::from_lists(&[vec![1, 4], vec![2, 3, 9]]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(1), &[2, 3, 9]);
        assert_eq!(c.members(), &[1, 4, 2, 3, 9]);
        assert_eq!(c.iter().map(<[DocId]>::len).collect::<Vec<_>>(), vec![2, 3]);
    }
}
