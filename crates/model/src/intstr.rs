//! IntOrString resolution (upstream `intstr.GetScaledValueFromIntOrPercent`).
//!
//! Used for `maxUnavailable` / `maxSurge`, which are either a count or a percentage of the
//! number of nodes that should run the DaemonSet.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why an IntOrString cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for IntOrString: {0}")]
pub struct IntOrStringError(pub String);

/// Resolves an int or a `"N%"` against `total`; percentages round up when `round_up`
/// (the DaemonSet controller always rounds up), down otherwise. `None` resolves to 0.
///
/// Strings without a `%` suffix are rejected even when numeric (`"1"`), as upstream does.
pub fn scaled_value(
    value: Option<&IntOrString>,
    total: i32,
    round_up: bool,
) -> Result<i32, IntOrStringError> {
    let Some(value) = value else { return Ok(0) };
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let percent = parse_percent(s)?;
            // Integer arithmetic instead of upstream's float64: identical for every value
            // that fits, and immune to float rounding on large inputs.
            let product = i128::from(percent) * i128::from(total);
            let scaled = if round_up {
                div_ceil(product, 100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(scaled).map_err(|_| {
                IntOrStringError(format!("{s:?} of {total} does not fit in a 32-bit integer"))
            })
        }
    }
}

/// True for int 0 or any string percentage whose number is 0 (`"0%"`).
///
/// `None` counts as zero (an unset `maxSurge` means no surge), and so does the numeric
/// string `"0"`, because upstream's validation reads bare numeric strings as integers. A
/// string that is not a number is not zero (validation rejects it separately).
pub fn is_zero(value: Option<&IntOrString>) -> bool {
    match value {
        None => true,
        Some(IntOrString::Int(n)) => *n == 0,
        Some(IntOrString::String(s)) => {
            let digits = s.strip_suffix('%').unwrap_or(s);
            matches!(digits.parse::<i64>(), Ok(0))
        }
    }
}

/// Parses the number of a `"N%"` string.
fn parse_percent(s: &str) -> Result<i64, IntOrStringError> {
    let Some(digits) = s.strip_suffix('%') else {
        return Err(IntOrStringError(format!(
            "{s:?} is not a percentage (expected e.g. \"25%\")"
        )));
    };
    digits.parse::<i64>().map_err(|_| {
        IntOrStringError(format!(
            "invalid percentage {s:?}: {digits:?} is not an integer"
        ))
    })
}

/// Ceiling division for a positive divisor that is also right for negative dividends.
fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}
