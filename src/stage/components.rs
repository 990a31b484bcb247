//! `components`: connected components of confirmed edges in one process. The engine
//! can find them itself in rounds of joins (large-star and small-star), each a few
//! shuffles; when the edges fit one task's memory, one pass here replaces every round.

use std::io::{BufRead, Write};

use serde::Deserialize;

use crate::cluster::UnionFind;
use crate::lsh::DocId;

use super::*;

/// An edge as `stage confirm` writes it (its similarity, if present, is not needed).
#[derive(Deserialize)]
struct EdgeIn {
    a: u64,
    b: u64,
}

/// What `stage components` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComponentStats {
    pub edges: u64,
    /// Rows in components (every end of an edge).
    pub rows: u64,
    pub components: u64,
}

/// `stage components`: edges in (`{"a", "b"}` JSON lines, as `stage confirm` writes
/// them; with `delimited`, rows `A, B`), any order, repeats allowed; out, sorted by
/// row, every row of a component with its root, the component's smallest row
/// (`{"row", "root"}`, or rows `ROW, ROOT`), the root itself included.
pub fn components(
    delimited: bool,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<ComponentStats, StageError> {
    let mut edges: Vec<(u64, u64)> = Vec::new();
    if delimited {
        rows::for_each_row(input, name, 2, |f| {
            edges.push((
                rows::int(f[0], "edge end A")?,
                rows::int(f[1], "edge end B")?,
            ));
            Ok(())
        })?;
    } else {
        for_each_line(input, name, |line| {
            let e: EdgeIn = parse_line(line, "edge ({\"a\", \"b\"})")?;
            edges.push((e.a, e.b));
            Ok(())
        })?;
    }
    // Dense ids in row order, so that the smallest id of a component is its smallest
    // row.
    let mut ids: Vec<u64> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > DocId::MAX as usize {
        return Err(StageError::Record(format!(
            "{name}: {} rows in edges; one process takes at most {}",
            ids.len(),
            DocId::MAX
        )));
    }
    let id = |row: u64| ids.binary_search(&row).unwrap_or_default() as DocId;
    let mut uf = UnionFind::new(ids.len());
    for &(a, b) in &edges {
        uf.union(id(a), id(b));
    }
    // Ids in increasing order: the first one met of each union-find root is the
    // component's smallest.
    let mut smallest: Vec<DocId> = vec![DocId::MAX; ids.len()];
    let mut stats = ComponentStats {
        edges: edges.len() as u64,
        rows: ids.len() as u64,
        components: 0,
    };
    let mut line = Vec::with_capacity(64);
    let (mut r, mut s) = (itoa::Buffer::new(), itoa::Buffer::new());
    for (i, &row) in ids.iter().enumerate() {
        let root = uf.find(i as DocId) as usize;
        if smallest[root] == DocId::MAX {
            smallest[root] = i as DocId;
            stats.components += 1;
        }
        let first = ids[smallest[root] as usize];
        line.clear();
        if delimited {
            line.extend_from_slice(r.format(row).as_bytes());
            line.push(rows::FIELD);
            line.extend_from_slice(s.format(first).as_bytes());
        } else {
            line.extend_from_slice(b"{\"row\":");
            line.extend_from_slice(r.format(row).as_bytes());
            line.extend_from_slice(b",\"root\":");
            line.extend_from_slice(s.format(first).as_bytes());
            line.push(b'}');
        }
        line.push(b'\n');
        out.write_all(&line).map_err(StageError::Write)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(delimited: bool, input: &str) -> (String, ComponentStats) {
        let mut out = Vec::new();
        let stats = components(delimited, input.as_bytes(), "<test>", &mut out).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    #[test]
    fn rows_get_their_components_smallest_row() {
        // Two components: {3, 7, 9, 20} (linked through 9) and {5, 11}; repeats and
        // both directions.
        let edges = "9\u{1}20\n7\u{1}9\n11\u{1}5\n3\u{1}20\n20\u{1}9\n5\u{1}11\n";
        let (out, stats) = run(true, edges);
        assert_eq!(
            out, "3\u{1}3\n5\u{1}5\n7\u{1}3\n9\u{1}3\n11\u{1}5\n20\u{1}3\n",
            "sorted by row, root = smallest row"
        );
        assert_eq!(
            stats,
            ComponentStats {
                edges: 6,
                rows: 6,
                components: 2
            }
        );
    }

    #[test]
    fn json_edges_from_confirm() {
        let edges = "{\"a\":4,\"b\":2,\"similarity\":0.9}\n\n{\"a\":1099511627777,\"b\":4}\n";
        let (out, stats) = run(false, edges);
        assert_eq!(
            out,
            "{\"row\":2,\"root\":2}\n{\"row\":4,\"root\":2}\n{\"row\":1099511627777,\"root\":2}\n"
        );
        assert_eq!(stats.components, 1);
    }

    #[test]
    fn no_edges_no_rows() {
        assert_eq!(run(true, "").0, "");
    }

    #[test]
    fn bad_rows_name_their_line() {
        let mut out = Vec::new();
        let e = components(true, "1\u{1}2\n1\u{1}x\n".as_bytes(), "<stdin>", &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("<stdin>:2") && e.contains("not an integer"),
            "{e}"
        );
        let e = components(false, "{\"a\":1}\n".as_bytes(), "<stdin>", &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("<stdin>:1") && e.contains("edge"), "{e}");
    }

    /// Against a plain search of the graph, on random graphs.
    #[test]
    fn same_as_a_graph_search() {
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for _ in 0..50 {
            let nodes = 2 + next(40);
            let edges: Vec<(u64, u64)> = (0..next(60))
                .map(|_| (next(nodes) * 1000 + 1, next(nodes) * 1000 + 1))
                .collect();
            let input: String = edges
                .iter()
                .map(|(a, b)| format!("{a}\u{1}{b}\n"))
                .collect();
            let got = run(true, &input).0;
            let mut want: std::collections::BTreeMap<u64, u64> = Default::default();
            for &(a, _) in &edges {
                // Everything reachable from a, by repeated passes over the edges.
                let mut seen = std::collections::BTreeSet::from([a]);
                loop {
                    let before = seen.len();
                    for &(x, y) in &edges {
                        if seen.contains(&x) || seen.contains(&y) {
                            seen.insert(x);
                            seen.insert(y);
                        }
                    }
                    if seen.len() == before {
                        break;
                    }
                }
                let root = *seen.iter().next().unwrap();
                for r in seen {
                    want.insert(r, root);
                }
            }
            let want: String = want
                .iter()
                .map(|(r, root)| format!("{r}\u{1}{root}\n"))
                .collect();
            assert_eq!(got, want);
        }
    }
}
