//! Dates in Date* conditions: "one of the W3C implementations of the ISO 8601
//! date formats or in epoch (UNIX) time" (IAM User Guide, "Condition
//! operators", Date condition operators). IAM checks them on write: a value
//! that is neither fails with "The policy failed legacy parsing".

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub(crate) type Instant = i128;

const NANOS: i128 = 1_000_000_000;

/// Parses a policy or request date: epoch seconds (`1700000000`) or ISO 8601
/// (`2020`, `2020-01`, `2020-01-02`, `2020-01-02T03:04`, `...:05`,
/// `...:05.123456789`, with `Z`, `+hh`, `+hh:mm` or `-hh:mm`; no zone means UTC).
pub(crate) fn parse(text: &str) -> Option<Instant> {
    if let Some(instant) = canonical(text.as_bytes()) {
        return Some(instant);
    }
    let lower = text.trim();
    if lower.is_empty() {
        return None;
    }
    let has_t = lower.bytes().any(|b| b == b't' || b == b'T');
    if !has_t && !lower.contains('-') {
        // Epoch seconds.
        if !lower.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: i64 = lower.parse().ok()?;
        return Some(secs as i128 * NANOS);
    }
    iso8601(lower)
}

/// The form requests carry (`aws:CurrentTime`, `aws:TokenIssueTime`):
/// `YYYY-MM-DDThh:mm:ssZ`, read without splitting.
fn canonical(b: &[u8]) -> Option<Instant> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds as i128 * NANOS)
}

fn iso8601(text: &str) -> Option<Instant> {
    let (date, time) = match text.find(['t', 'T']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (negative, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let mut parts = date.split('-');
    let year_text = parts.next()?;
    let mut year: i64 = digits(year_text)?;
    if negative {
        year = -year;
    }
    if !(-292_275_054..=292_278_993).contains(&year) {
        return None;
    }
    let month = match parts.next() {
        Some(m) => ranged(m, 1, 12)?,
        None => 1,
    };
    let day = match parts.next() {
        Some(d) => ranged(d, 1, 31)?,
        None => 1,
    };
    if parts.next().is_some() {
        return None;
    }
    let (mut seconds, mut nanos, mut offset) = (0i64, 0i64, 0i64);
    if let Some(time) = time {
        let (clock, zone) = split_zone(time)?;
        offset = zone;
        if !clock.is_empty() {
            let mut fields = clock.split(':');
            let hours = ranged(fields.next()?, 0, 23)?;
            let minutes = match fields.next() {
                Some(m) => ranged(m, 0, 59)?,
                None => 0,
            };
            let secs = match fields.next() {
                Some(s) => {
                    let (whole, frac) = match s.split_once('.') {
                        Some((w, f)) => (w, Some(f)),
                        None => (s, None),
                    };
                    if let Some(frac) = frac {
                        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        let scale = 10i64.pow(9 - frac.len() as u32);
                        nanos = frac.parse::<i64>().ok()? * scale;
                    }
                    ranged(whole, 0, 59)?
                }
                None => 0,
            };
            if fields.next().is_some() {
                return None;
            }
            seconds = hours * 3600 + minutes * 60 + secs;
        }
    }
    let days = days_from_civil(year, month, day);
    Some((days as i128 * 86_400 + seconds as i128 - offset as i128) * NANOS + nanos as i128)
}

/// Splits `hh:mm:ss.fff` from its zone designator; returns the zone's offset
/// east of UTC in seconds.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['z', 'Z']) {
        return Some((clock, 0));
    }
    if let Some(i) = time.find(['+', '-']) {
        let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
        let zone = &time[i + 1..];
        let (h, m) = match zone.split_once(':') {
            Some((h, m)) => (h, Some(m)),
            None => (zone, None),
        };
        if h.len() != 2 {
            return None;
        }
        let hours = ranged(h, 0, 23)?;
        let minutes = match m {
            Some(m) if m.len() == 2 => ranged(m, 0, 59)?,
            Some(_) => return None,
            None => 0,
        };
        return Some((&time[..i], sign * (hours * 3600 + minutes * 60)));
    }
    Some((time, 0))
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn ranged(text: &str, low: i64, high: i64) -> Option<i64> {
    digits(text).filter(|v| (low..=high).contains(v))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// well-known civil-from-days inverse).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_epoch_agree() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2020-01-01T00:00:00Z"), Some(1_577_836_800 * NANOS));
        assert_eq!(parse("1577836800"), parse("2020-01-01T00:00:00Z"));
        assert_eq!(parse("2020-01-01"), parse("2020-01-01T00:00:00Z"));
        // Digits alone are epoch seconds, as IAM reads them (not a year).
        assert_eq!(parse("2020"), Some(2020 * NANOS));
        assert_eq!(parse("2020-01-01T01:00:00+01:00"), parse("2020-01-01T00:00:00Z"));
        assert_eq!(parse("2019-12-31T19:00:00-05:00"), parse("2020-01-01T00:00:00Z"));
        assert_eq!(parse("2016-12-13T21:20:37.593194+00:00").map(|n| n % NANOS), Some(593_194_000));
    }

    #[test]
    fn what_iam_refuses() {
        // Cases IAM answers "The policy failed legacy parsing" for.
        for bad in [
            "sdfdsf",
            "234-13",
            "2016-12-13t2:00:00.593194+1",
            "2016-12-13t2:00:00.1999999999+10:59",
            "9223372036854775808",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        for good in ["01T", "2016-12-13t2:00:00.593194+23", "-292275054", "2019-07-01T13:20:15Z"] {
            assert!(parse(good).is_some(), "{good}");
        }
    }
}
