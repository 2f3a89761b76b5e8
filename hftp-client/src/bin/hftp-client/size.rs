//! Byte sizes on the command line and on the screen, via `bytesize`.
//!
//! Parsing: plain digits are bytes; a one-letter suffix is binary, as in
//! aria2, curl and dd (`512K`, `8M`, `1G` = KiB, MiB, GiB); the unit names
//! `bytesize` knows are taken at their word (`8MiB` binary, `8MB` decimal).

use bytesize::ByteSize;

/// Parses `8M`, `1GiB`, `1.5K`, `4096`.
pub fn parse(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let binary = match text.as_bytes() {
        [.., digit, unit] if digit.is_ascii_digit() && b"kKmMgGtTpPeE".contains(unit) => {
            format!("{text}i")
        }
        _ => text.to_owned(),
    };
    binary
        .parse::<ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| format!("'{text}' is not a size (examples: 4096, 512K, 8M, 1GiB)"))
}

/// A size for people in columns, as `ls -h` writes it: `41B`, `1.5K`, `2.0G`.
pub fn short(bytes: u64) -> String {
    match bytes < 1024 {
        true => format!("{bytes}B"),
        false => ByteSize(bytes).display().iec_short().to_string(),
    }
}

/// A size for people in sentences: `41 B`, `1.5 MiB`.
pub fn long(bytes: u64) -> String {
    ByteSize(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_letters_and_both_unit_names() {
        assert_eq!(parse("4096"), Ok(4096));
        assert_eq!(parse("512K"), Ok(512 << 10));
        assert_eq!(parse("8m"), Ok(8 << 20));
        assert_eq!(parse("1G"), Ok(1 << 30));
        assert_eq!(parse("1GiB"), Ok(1 << 30));
        assert_eq!(parse("8MB"), Ok(8_000_000));
        assert_eq!(parse("1.5K"), Ok(1536));
        assert_eq!(parse(" 2 KiB "), Ok(2048));
        assert!(parse("").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("8X").is_err());
        assert!(parse("lots").is_err());
    }

    #[test]
    fn displays() {
        assert_eq!(short(41), "41B");
        assert_eq!(short(1536), "1.5K");
        assert_eq!(short(3 << 30), "3.0G");
        assert_eq!(long(41), "41 B");
        assert_eq!(long(1536), "1.5 KiB");
    }
}
