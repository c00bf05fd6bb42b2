//! Country vectors: a sparse countries x tracks matrix, each row normalised to sum 1.

use crate::ArchetypeError;

/// Sparse rows (CSR) with 64-bit offsets: at a million tracks, 250 countries can hold more than
/// 2^31 non-zeros.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseRows {
    pub n_cols: usize,
    /// `offsets[i]..offsets[i + 1]` are row `i`'s entries; `offsets.len() == rows + 1`.
    pub offsets: Vec<u64>,
    /// Column of each entry, increasing within a row.
    pub cols: Vec<u32>,
    pub values: Vec<f64>,
}

impl SparseRows {
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn nnz(&self) -> u64 {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// Row `i` as (columns, values).
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        (&self.cols[a..b], &self.values[a..b])
    }

    /// Builds rows from `(row, col, value)` triples in any order; repeated cells are summed.
    pub fn from_triples(
        rows: usize,
        n_cols: usize,
        triples: &mut [(u32, u32, f64)],
    ) -> Result<SparseRows, ArchetypeError> {
        triples.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut offsets = Vec::with_capacity(rows + 1);
        let mut cols = Vec::with_capacity(triples.len());
        let mut values: Vec<f64> = Vec::with_capacity(triples.len());
        offsets.push(0u64);
        let mut current = 0usize;
        let mut last: Option<(u32, u32)> = None;
        for &(r, c, v) in triples.iter() {
            if r as usize >= rows || c as usize >= n_cols {
                return Err(ArchetypeError::Input(format!(
                    "matrix cell ({r}, {c}) outside {rows} x {n_cols}"
                )));
            }
            if !v.is_finite() || v < 0.0 {
                return Err(ArchetypeError::Input(format!(
                    "matrix cell ({r}, {c}) holds {v}; counts must be finite and >= 0"
                )));
            }
            while current < r as usize {
                offsets.push(cols.len() as u64);
                current += 1;
            }
            if last == Some((r, c)) {
                if let Some(x) = values.last_mut() {
                    *x += v;
                }
                continue;
            }
            last = Some((r, c));
            cols.push(c);
            values.push(v);
        }
        while offsets.len() < rows + 1 {
            offsets.push(cols.len() as u64);
        }
        Ok(SparseRows {
            n_cols,
            offsets,
            cols,
            values,
        })
    }

    /// Each row divided by its sum, so countries of any size compare (the paper's Sec. 3.2).
    /// An all-zero row is an error: it has no direction to compare.
    pub fn normalised(mut self, names: &[String]) -> Result<SparseRows, ArchetypeError> {
        for i in 0..self.rows() {
            let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
            let sum: f64 = self.values[a..b].iter().sum();
            if sum <= 0.0 {
                let name = names.get(i).map(String::as_str).unwrap_or("?");
                return Err(ArchetypeError::Input(format!(
                    "country {name} has no plays on any kept track"
                )));
            }
            for v in &mut self.values[a..b] {
                *v /= sum;
            }
        }
        Ok(self)
    }

    /// Column-major copy: for each column, the rows holding it (increasing) and their values.
    pub fn transpose(&self) -> SparseRows {
        let mut counts = vec![0u64; self.n_cols + 1];
        for &c in &self.cols {
            counts[c as usize + 1] += 1;
        }
        for j in 0..self.n_cols {
            counts[j + 1] += counts[j];
        }
        let mut next = counts.clone();
        let mut cols = vec![0u32; self.cols.len()];
        let mut values = vec![0f64; self.cols.len()];
        for i in 0..self.rows() {
            let (cs, vs) = self.row(i);
            for (&c, &v) in cs.iter().zip(vs) {
                let at = next[c as usize] as usize;
                cols[at] = i as u32;
                values[at] = v;
                next[c as usize] += 1;
            }
        }
        SparseRows {
            n_cols: self.rows(),
            offsets: counts,
            cols,
            values,
        }
    }

    /// Mean of the rows (a dense vector over columns).
    pub fn column_means(&self) -> Vec<f64> {
        let mut mean = vec![0f64; self.n_cols];
        for (&c, &v) in self.cols.iter().zip(&self.values) {
            mean[c as usize] += v;
        }
        let n = self.rows().max(1) as f64;
        for m in &mut mean {
            *m /= n;
        }
        mean
    }

    /// The dense row-major matrix; for tests and small inputs only.
    pub fn to_dense(&self) -> Vec<f64> {
        let mut out = vec![0f64; self.rows() * self.n_cols];
        for i in 0..self.rows() {
            let (cs, vs) = self.row(i);
            for (&c, &v) in cs.iter().zip(vs) {
                out[i * self.n_cols + c as usize] = v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_sum_repeats_and_keep_empty_rows() {
        let mut t = vec![(2, 1, 1.0), (0, 3, 2.0), (2, 1, 4.0), (0, 0, 1.0)];
        let m = SparseRows::from_triples(4, 5, &mut t).unwrap();
        assert_eq!(m.offsets, vec![0, 2, 2, 3, 3]);
        assert_eq!(m.row(0), (&[0u32, 3][..], &[1.0, 2.0][..]));
        assert_eq!(m.row(2), (&[1u32][..], &[5.0][..]));
        let t2 = m.transpose();
        assert_eq!(t2.rows(), 5);
        assert_eq!(t2.row(1), (&[2u32][..], &[5.0][..]));
        assert_eq!(t2.transpose(), m);
        assert!(SparseRows::from_triples(2, 2, &mut [(2, 0, 1.0)]).is_err());
        assert!(SparseRows::from_triples(2, 2, &mut [(0, 0, f64::NAN)]).is_err());
    }

    #[test]
    fn normalised_rows_sum_to_one_and_empty_rows_are_named() {
        let mut t = vec![(0, 0, 3.0), (0, 2, 1.0), (1, 1, 5.0)];
        let m = SparseRows::from_triples(2, 3, &mut t).unwrap();
        let names = vec!["AT".to_string(), "BE".to_string()];
        let n = m.clone().normalised(&names).unwrap();
        assert_eq!(n.row(0).1, &[0.75, 0.25]);
        assert_eq!(n.row(1).1, &[1.0]);
        let e = SparseRows::from_triples(3, 3, &mut t)
            .unwrap()
            .normalised(&["AT".into(), "BE".into(), "CH".into()])
            .unwrap_err();
        assert!(e.to_string().contains("CH"), "{e}");
    }
}
