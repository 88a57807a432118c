//! Plain text tables and number formatting for the result report.

/// A plain text table: columns padded to width, numbers right-aligned.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    pub fn print(&self) {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| std::iter::once(&self.header).chain(&self.rows).map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        // A column is right-aligned when its cells look numeric.
        let numeric: Vec<bool> = (0..self.header.len())
            .map(|c| self.rows.iter().any(|r| r[c].chars().next().is_some_and(|ch| ch.is_ascii_digit())))
            .collect();
        let pad = |c: usize, s: &str| {
            let w = widths[c];
            if numeric[c] {
                format!("{s:>w$}")
            } else {
                format!("{s:<w$}")
            }
        };
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells.iter().enumerate().map(|(c, s)| pad(c, s)).collect();
            println!("{}", parts.join(" | ").trim_end());
        };
        line(&self.header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("{}", rule.join("-|-"));
        for r in &self.rows {
            line(r);
        }
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
