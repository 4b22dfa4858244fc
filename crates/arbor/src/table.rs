//! Human output: aligned tables on a terminal, colour when asked for or when a terminal shows
//! it. Piped output stays one plain line per item, as scripts read it; `--json` is untouched.

use std::io::IsTerminal;

/// `--color`: when to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set or `TERM` is `dumb`.
    Auto,
    Always,
    Never,
}

/// What the output goes to: a terminal (tables), and whether to colour.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub terminal: bool,
    pub color: bool,
}

impl Style {
    pub fn detect(choice: ColorChoice) -> Style {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Style {
            terminal,
            color: match choice {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => terminal && !no_color && !dumb,
            },
        }
    }

    /// `text` in `paint`'s colour when colouring.
    pub fn paint(&self, text: &str, paint: Paint) -> String {
        if !self.color || text.is_empty() || paint == Paint::Plain {
            return text.to_string();
        }
        format!("\x1b[{}m{text}\x1b[0m", paint.code())
    }
}

/// The few colours the output uses, each for one meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Healthy, successful.
    Good,
    /// Needs attention: lagging, running, held back.
    Warn,
    /// Failed, broken, a failure that calls for recovery.
    Bad,
    /// Headers.
    Bold,
    /// Secondary detail (recovery steps).
    Dim,
    /// No colour.
    Plain,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Good => "32",
            Paint::Warn => "33",
            Paint::Bad => "31",
            Paint::Bold => "1",
            Paint::Dim => "2",
            Paint::Plain => "0",
        }
    }

    /// The colour of a recovery's outcome word.
    pub fn of_outcome(outcome: &str) -> Paint {
        match outcome {
            "successful" => Paint::Good,
            "running" => Paint::Warn,
            _ => Paint::Bad,
        }
    }
}

/// A cell: its text and, optionally, its colour.
pub struct Cell {
    text: String,
    paint: Option<Paint>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, paint: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

impl Cell {
    /// Its colour, or none (plain).
    pub fn paint(&self) -> Paint {
        self.paint.unwrap_or(Paint::Plain)
    }

    pub fn painted(text: impl Into<String>, paint: Paint) -> Cell {
        Cell {
            text: text.into(),
            paint: Some(paint),
        }
    }
}

/// Rows under headers, columns padded to their widest cell; each row may carry lines printed
/// under it (a recovery's steps).
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<(Vec<Cell>, Vec<String>)>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push((cells, Vec::new()));
    }

    /// A row, with lines printed under it, indented.
    pub fn row_with_details(&mut self, cells: Vec<Cell>, details: Vec<String>) {
        self.rows.push((cells, details));
    }

    pub fn render(&self, style: &Style) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for (cells, _) in &self.rows {
            for (column, cell) in cells.iter().enumerate() {
                let width = cell.text.chars().count();
                match widths.get_mut(column) {
                    Some(w) => *w = (*w).max(width),
                    None => widths.push(width),
                }
            }
        }
        let line = |cells: Vec<(String, Option<Paint>)>| {
            let last = cells.len().saturating_sub(1);
            let mut text = String::new();
            for (column, (cell, paint)) in cells.into_iter().enumerate() {
                let pad = widths[column].saturating_sub(cell.chars().count());
                text.push_str(&match paint {
                    Some(paint) => style.paint(&cell, paint),
                    None => cell,
                });
                if column < last {
                    text.push_str(&" ".repeat(pad + 2));
                }
            }
            text.push('\n');
            text
        };
        let mut text = line(
            self.headers
                .iter()
                .map(|h| (h.to_string(), Some(Paint::Bold)))
                .collect(),
        );
        for (cells, details) in &self.rows {
            text.push_str(&line(
                cells.iter().map(|c| (c.text.clone(), c.paint)).collect(),
            ));
            for detail in details {
                text.push_str("    ");
                text.push_str(&style.paint(detail, Paint::Dim));
                text.push('\n');
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_colour_only_when_asked() {
        let mut table = Table::new(&["ID", "OUTCOME", "NOTE"]);
        table.row(vec![
            "1".into(),
            Cell::painted("successful", Paint::Good),
            "a".into(),
        ]);
        table.row_with_details(
            vec!["12".into(), Cell::painted("failed", Paint::Bad), "".into()],
            vec!["step one".into()],
        );
        let plain = table.render(&Style {
            terminal: true,
            color: false,
        });
        assert_eq!(
            plain,
            "ID  OUTCOME     NOTE\n1   successful  a\n12  failed      \n    step one\n"
        );
        let coloured = table.render(&Style {
            terminal: true,
            color: true,
        });
        assert!(
            coloured.contains("\x1b[32msuccessful\x1b[0m  a"),
            "{coloured:?}"
        );
        assert!(
            coloured.contains("\x1b[31mfailed\x1b[0m      "),
            "{coloured:?}"
        );
    }
}
