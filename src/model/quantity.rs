//! Kubernetes resource quantities, parsed by the grammar of apimachinery's `resource.ParseQuantity`:
//! `<signedNumber><suffix>` with binary (`Ki`..`Ei`), decimal (`n u m "" k M G T P E`) or
//! exponent (`e3`, `E-2`) suffixes. Values are kept exactly, in nano-units.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    /// The value times 10^9, rounded up as Kubernetes rounds sub-unit precision up.
    pub nanos: i128,
    pub format: Format,
    /// The suffix as written (`Gi`, `m`, `e9`, `` …) — kept to judge likely mistakes.
    pub suffix: Suffix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    Binary(u32),
    Decimal(i32),
    Exponent(i32),
}

const NANO: i128 = 1_000_000_000;
/// apimachinery caps quantities at 2^63-1 in their base unit.
const MAX_UNITS: i128 = i64::MAX as i128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("empty quantity")]
    Empty,
    #[error("`{0}` is not a number followed by a valid suffix (Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent)")]
    Syntax(String),
    #[error("`{0}` is larger than Kubernetes can hold (2^63-1)")]
    TooLarge(String),
}

impl Quantity {
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bad = || QuantityError::Syntax(text.to_owned());
        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (num, suffix) = rest.split_at(num_len);
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(bad());
        }
        let suffix = parse_suffix(suffix).ok_or_else(bad)?;
        // value = digits * 10^(exp10) * 2^(exp2), with digits = int_part ++ frac_part
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 38 {
            return Err(QuantityError::TooLarge(text.to_owned()));
        }
        let mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| bad())? };
        let mut exp10 = -(frac_part.len() as i32) + 9;
        let mut exp2 = 0u32;
        match suffix {
            Suffix::Binary(p) => exp2 = p * 10,
            Suffix::Decimal(e) | Suffix::Exponent(e) => exp10 += e,
        }
        let too_large = || QuantityError::TooLarge(text.to_owned());
        let mut nanos = mantissa;
        if exp10 >= 0 {
            for _ in 0..exp10 {
                if nanos == 0 {
                    break;
                }
                nanos = nanos.checked_mul(10).ok_or_else(too_large)?;
            }
        } else {
            let div = 10i128.checked_pow((-exp10) as u32);
            nanos = match div {
                // Rounded up, without `nanos + d - 1`, which overflows for 38-digit mantissas.
                Some(d) => nanos / d + i128::from(nanos % d != 0),
                None => i128::from(nanos > 0),
            };
        }
        nanos = nanos.checked_mul(1i128 << exp2).ok_or_else(too_large)?;
        if nanos / NANO > MAX_UNITS {
            return Err(too_large());
        }
        let format = match suffix {
            Suffix::Binary(_) => Format::BinarySI,
            Suffix::Decimal(_) => Format::DecimalSI,
            Suffix::Exponent(_) => Format::DecimalExponent,
        };
        Ok(Quantity { nanos: if negative { -nanos } else { nanos }, format, suffix })
    }

    /// The value in base units (bytes, cores), rounded up like apimachinery's `Value()`.
    pub fn value(&self) -> i128 {
        if self.nanos >= 0 { (self.nanos + NANO - 1) / NANO } else { self.nanos / NANO }
    }

    pub fn milli_value(&self) -> i128 {
        let m = 1_000_000;
        if self.nanos >= 0 { (self.nanos + m - 1) / m } else { self.nanos / m }
    }

    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANO as f64
    }

    pub fn from_bytes(bytes: i128) -> Quantity {
        Quantity { nanos: bytes * NANO, format: Format::BinarySI, suffix: Suffix::Binary(0) }
    }
}

fn parse_suffix(s: &str) -> Option<Suffix> {
    Some(match s {
        "Ki" => Suffix::Binary(1),
        "Mi" => Suffix::Binary(2),
        "Gi" => Suffix::Binary(3),
        "Ti" => Suffix::Binary(4),
        "Pi" => Suffix::Binary(5),
        "Ei" => Suffix::Binary(6),
        "n" => Suffix::Decimal(-9),
        "u" => Suffix::Decimal(-6),
        "m" => Suffix::Decimal(-3),
        "" => Suffix::Decimal(0),
        "k" => Suffix::Decimal(3),
        "M" => Suffix::Decimal(6),
        "G" => Suffix::Decimal(9),
        "T" => Suffix::Decimal(12),
        "P" => Suffix::Decimal(15),
        "E" => Suffix::Decimal(18),
        _ => {
            let exp = s.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 4 {
                return None;
            }
            Suffix::Exponent(exp.parse().ok()?)
        }
    })
}

/// Canonical text, as apimachinery would print it: the largest suffix of the quantity's format
/// that keeps an integer, falling back to `m` and then `n`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0");
        }
        if self.format == Format::BinarySI && n % NANO == 0 {
            let units = n / NANO;
            for (i, s) in ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"].iter().enumerate() {
                let d = 1i128 << (10 * (6 - i));
                if units % d == 0 {
                    return write!(f, "{}{}", units / d, s);
                }
            }
            return write!(f, "{units}");
        }
        for (d, s) in [
            (NANO * 1_000_000_000_000_000_000, "E"),
            (NANO * 1_000_000_000_000_000, "P"),
            (NANO * 1_000_000_000_000, "T"),
            (NANO * 1_000_000_000, "G"),
            (NANO * 1_000_000, "M"),
            (NANO * 1_000, "k"),
            (NANO, ""),
            (1_000_000, "m"),
            (1_000, "u"),
        ] {
            if n % d == 0 {
                return write!(f, "{}{}", n / d, s);
            }
        }
        write!(f, "{n}n")
    }
}

/// Human byte size for messages: `3Gi`, `1.5Gi`, `512Mi`.
pub fn bytes_human(bytes: f64) -> String {
    const UNITS: [(&str, f64); 4] =
        [("Ti", 1_099_511_627_776.0), ("Gi", 1_073_741_824.0), ("Mi", 1_048_576.0), ("Ki", 1024.0)];
    for (u, d) in UNITS {
        if bytes >= d {
            let v = bytes / d;
            return if (v - v.round()).abs() < 0.005 { format!("{}{u}", v.round()) } else { format!("{v:.2}{u}") };
        }
    }
    format!("{bytes:.0}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> i128 {
        Quantity::parse(s).unwrap().value()
    }

    #[test]
    fn documented_grammar() {
        assert_eq!(bytes("2Gi"), 2 * 1024 * 1024 * 1024);
        assert_eq!(bytes("1G"), 1_000_000_000);
        assert_eq!(bytes("129e6"), 129_000_000);
        assert_eq!(bytes("1.5Gi"), 1_610_612_736);
        assert_eq!(bytes("128974848"), 128_974_848);
        assert_eq!(bytes("123Mi"), 128_974_848);
        assert_eq!(bytes(".5Ki"), 512);
        assert_eq!(bytes("+1k"), 1000);
        assert_eq!(bytes("1E-2"), 1); // 0.01 rounded up
        assert_eq!(Quantity::parse("500m").unwrap().milli_value(), 500);
        assert_eq!(Quantity::parse("0.1m").unwrap().nanos, 100_000);
        assert_eq!(Quantity::parse("-1").unwrap().value(), -1);
        assert_eq!(Quantity::parse("400m").unwrap().as_f64(), 0.4);
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in ["", "K", "1K", "1KB", "1MB", "1mi", "1GI", "1.2.3", "Gi", "1 Gi", "1e", "--1", "1e+"] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(matches!(Quantity::parse("9999999999999999999999Ei"), Err(QuantityError::TooLarge(_))));
    }

    #[test]
    fn long_fractions_round_up_without_overflow() {
        // Found by the quantity fuzz target: a 38-digit mantissa divided by 10^38 overflowed.
        let q = Quantity::parse(".00000000085680000000000085680000000000054775807").unwrap();
        assert_eq!(q.nanos, 1);
        assert_eq!(Quantity::parse("0.0000000001").unwrap().nanos, 1);
    }

    #[test]
    fn canonical_text() {
        assert_eq!(Quantity::parse("2048Mi").unwrap().to_string(), "2Gi");
        assert_eq!(Quantity::parse("1500m").unwrap().to_string(), "1500m");
        assert_eq!(Quantity::parse("1e3").unwrap().to_string(), "1k");
        assert_eq!(Quantity::parse("0.5").unwrap().to_string(), "500m");
    }
}
