//! The request mix of `rate`: which kinds of request to send and in what
//! proportions, parsed from `metadata,slice` or `metadata=8,error=1`.

use std::fmt;
use std::str::FromStr;

/// A kind of request the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `get_metadata FILE`.
    Metadata,
    /// `get_slice FILE OFFSET SIZE` (base64), a small slice.
    Slice,
    /// `get_slice FILE OFFSET SIZE raw`.
    Raw,
    /// `get_file_listing`.
    Listing,
    /// `help`.
    Help,
    /// A request the server must refuse without closing: unknown command
    /// (200), bad arguments (201), missing file (202), range past the end
    /// (203), in turn.
    Error,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Metadata,
        Kind::Slice,
        Kind::Raw,
        Kind::Listing,
        Kind::Help,
        Kind::Error,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Metadata => "metadata",
            Kind::Slice => "slice",
            Kind::Raw => "raw",
            Kind::Listing => "listing",
            Kind::Help => "help",
            Kind::Error => "error",
        }
    }

    /// Whether requests of this kind name a file.
    pub fn needs_file(self) -> bool {
        matches!(self, Kind::Metadata | Kind::Slice | Kind::Raw)
    }
}

/// Request kinds with integer weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Kind, u32)>,
    total: u32,
}

impl Mix {
    /// The kinds in the mix.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.weights.iter().map(|&(k, _)| k)
    }

    /// The kind for a uniformly drawn `r` (any u32).
    pub fn pick(&self, r: u32) -> Kind {
        let mut x = ((u64::from(r) * u64::from(self.total)) >> 32) as u32;
        for &(kind, w) in &self.weights {
            if x < w {
                return kind;
            }
            x -= w;
        }
        self.weights[self.weights.len() - 1].0
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut weights: Vec<(Kind, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((n, w)) => {
                    let w = w
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|w| (1..=1_000_000).contains(w))
                        .ok_or_else(|| format!("weight '{w}' is not a number in 1..=1000000"))?;
                    (n.trim(), w)
                }
                None => (part, 1),
            };
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| {
                    format!("unknown request kind '{name}' (metadata, slice, raw, listing, help, error)")
                })?;
            if weights.iter().any(|&(k, _)| k == kind) {
                return Err(format!("'{name}' appears twice"));
            }
            weights.push((kind, weight));
        }
        if weights.is_empty() {
            return Err("the mix is empty".into());
        }
        let total = weights.iter().map(|&(_, w)| w).sum();
        Ok(Mix { weights, total })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, weight)) in self.weights.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={weight}", kind.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_pick() {
        let mix: Mix = "metadata=3, error".parse().unwrap();
        assert_eq!(mix.to_string(), "metadata=3,error=1");
        assert_eq!(mix.pick(0), Kind::Metadata);
        assert_eq!(mix.pick(u32::MAX / 4 * 3 - 1), Kind::Metadata);
        assert_eq!(mix.pick(u32::MAX), Kind::Error);
        assert!("".parse::<Mix>().is_err());
        assert!("metadata,metadata".parse::<Mix>().is_err());
        assert!("meta".parse::<Mix>().is_err());
        assert!("slice=0".parse::<Mix>().is_err());
    }
}
