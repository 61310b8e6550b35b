//! Kubernetes resource quantities (`100m`, `1.5`, `200Mi`, `1e3`), read as exact integers of
//! milli-units so the scheduler can add requests without floating point.
//!
//! Grammar (upstream `resource.ParseQuantity`): an optional sign, digits with an optional
//! fraction (`1`, `1.5`, `.5`, `5.`), then one suffix: binary SI (`Ki` `Mi` `Gi` `Ti` `Pi`
//! `Ei`), decimal SI (`n` `u` `m` none `k` `M` `G` `T` `P` `E`), or a decimal exponent
//! (`e3`, `E-2`). Like upstream's `MilliValue`, a value finer than a milli-unit rounds up
//! (away from zero).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a quantity string cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not follow the quantity grammar.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}"
    )]
    Format(String),
    /// The suffix is not one Kubernetes knows.
    #[error("unable to parse quantity's suffix {suffix:?} in {text:?}")]
    Suffix {
        /// The whole quantity.
        text: String,
        /// The unrecognised suffix.
        suffix: String,
    },
    /// The value in milli-units does not fit the range this crate works with.
    #[error("quantity {0:?} is too large")]
    TooLarge(String),
}

/// Parses a quantity into milli-units: `"100m"` → 100, `"1"` → 1000, `"1Ki"` → 1_024_000.
pub fn parse_quantity_milli(s: &str) -> Result<i128, QuantityError> {
    let format_err = || QuantityError::Format(s.to_owned());
    let too_large = || QuantityError::TooLarge(s.to_owned());

    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_len = rest
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.')
        .count();
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(format_err());
    }
    let (decimal_exp, binary_exp) = parse_suffix(suffix).ok_or_else(|| {
        if suffix
            .bytes()
            .all(|c| b"eEinumkKMGTP+-0123456789".contains(&c))
        {
            QuantityError::Suffix {
                text: s.to_owned(),
                suffix: suffix.to_owned(),
            }
        } else {
            format_err()
        }
    })?;

    // mantissa * 10^(decimal_exp + 3 - fraction digits) * 2^binary_exp, exactly.
    let fraction = fraction.trim_end_matches('0');
    let digits = whole.trim_start_matches('0').len() + fraction.len();
    if digits > 36 {
        return Err(too_large());
    }
    let mut mantissa: i128 = 0;
    for c in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa * 10 + i128::from(c - b'0');
    }
    let frac_len = i64::try_from(fraction.len()).map_err(|_| too_large())?;
    let exp10 = decimal_exp + 3 - frac_len;
    let mut value = mantissa
        .checked_mul(1i128.checked_shl(binary_exp).ok_or_else(too_large)?)
        .ok_or_else(too_large)?;
    if exp10 >= 0 {
        let scale = u32::try_from(exp10)
            .ok()
            .and_then(|e| 10i128.checked_pow(e))
            .ok_or_else(too_large)?;
        value = value.checked_mul(scale).ok_or_else(too_large)?;
    } else if value != 0 {
        // Dividing by more than 10^38 leaves a non-zero value below one milli-unit.
        let divisor = u32::try_from(-exp10)
            .ok()
            .and_then(|e| 10i128.checked_pow(e));
        value = match divisor {
            Some(d) => div_ceil_positive(value, d),
            None => 1,
        };
    }
    Ok(if negative { -value } else { value })
}

/// Milli-units of a k8s-openapi `Quantity` (see [`parse_quantity_milli`]).
pub fn quantity_milli(q: &Quantity) -> Result<i128, QuantityError> {
    parse_quantity_milli(&q.0)
}

/// The power of ten and power of two a suffix stands for.
fn parse_suffix(suffix: &str) -> Option<(i64, u32)> {
    Some(match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            // Anything beyond this range over- or underflows i128 milli-units anyway; clamp so
            // the arithmetic above reports it instead of the parser.
            let n: i64 = exp
                .parse()
                .unwrap_or(if exp.starts_with('-') { -1000 } else { 1000 });
            (n.clamp(-1000, 1000), 0)
        }
    })
}

/// Ceiling division for a non-negative dividend and positive divisor.
fn div_ceil_positive(a: i128, d: i128) -> i128 {
    let q = a / d;
    if a % d == 0 { q } else { q + 1 }
}
