//! The two timestamp formats a signed request can carry: ISO 8601 basic
//! (`X-Amz-Date: 20150830T123600Z`) and the HTTP `Date` header.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Parses `YYYYMMDD'T'HHMMSS'Z'` exactly (the only form SigV4 accepts).
pub fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[4..6])?;
    let day = digits(&b[6..8])?;
    let hour = digits(&b[9..11])?;
    let minute = digits(&b[11..13])?;
    let second = digits(&b[13..15])?;
    build(year, month, day, hour, minute, second)
}

/// Formats a UTC time as `YYYYMMDD'T'HHMMSS'Z'`.
pub fn format_amz_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 says a
/// recipient must accept:
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
/// - RFC 850:     `Sunday, 06-Nov-94 08:49:37 GMT`
/// - asctime:     `Sun Nov  6 08:49:37 1994`
pub fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    parse_imf_fixdate(value).or_else(|| parse_rfc850(value)).or_else(|| parse_asctime(value))
}

fn parse_imf_fixdate(value: &str) -> Option<OffsetDateTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let b = value.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if !SHORT_DAYS.contains(&value.get(0..3)?) || value.get(25..)? != " GMT" {
        return None;
    }
    let day = digits(&b[5..7])?;
    let month = month_number(value.get(8..11)?)?;
    let year = digits(&b[12..16])?;
    let (hour, minute, second) = clock(&b[17..25])?;
    build(year, month, day, hour, minute, second)
}

fn parse_rfc850(value: &str) -> Option<OffsetDateTime> {
    // "Sunday, 06-Nov-94 08:49:37 GMT"
    let (day_name, rest) = value.split_once(", ")?;
    if !LONG_DAYS.contains(&day_name) {
        return None;
    }
    let b = rest.as_bytes();
    if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || rest.get(18..)? != " GMT" {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = month_number(rest.get(3..6)?)?;
    let two_digit_year = digits(&b[7..9])?;
    // RFC 9110 interprets a two-digit year relative to the current date; a
    // pure function has no clock, so use the common POSIX pivot instead.
    let year = if two_digit_year < 70 { 2000 + two_digit_year } else { 1900 + two_digit_year };
    let (hour, minute, second) = clock(&b[10..18])?;
    build(year, month, day, hour, minute, second)
}

fn parse_asctime(value: &str) -> Option<OffsetDateTime> {
    // "Sun Nov  6 08:49:37 1994"
    let b = value.as_bytes();
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    if !SHORT_DAYS.contains(&value.get(0..3)?) {
        return None;
    }
    let month = month_number(value.get(4..7)?)?;
    let day = match b[8] {
        b' ' => digits(&b[9..10])?,
        _ => digits(&b[8..10])?,
    };
    let (hour, minute, second) = clock(&b[11..19])?;
    let year = digits(&b[20..24])?;
    build(year, month, day, hour, minute, second)
}

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    MONTHS.iter().position(|m| *m == name).map(|index| index as u32 + 1)
}

/// `HH:MM:SS`
fn clock(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?))
}

/// A run of ASCII digits as a number (at most 4 digits are ever passed).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0')))
}

fn build(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second).ok()?).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_and_formats_the_iso8601_basic_form() {
        let at = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(at, datetime!(2015-08-30 12:36:00 UTC));
        assert_eq!(format_amz_date(at), "20150830T123600Z");
    }

    #[test]
    fn rejects_other_iso8601_shapes() {
        for bad in [
            "",
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20150830 123600Z",
            "20150830T126000Z",
            "20150832T123600Z",
            "20150830T243600Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn accepts_the_three_http_date_forms() {
        let expected = datetime!(1994-11-06 08:49:37 UTC);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(expected));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(expected));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(expected));
        assert_eq!(parse_http_date("Fri, 24 May 2013 00:00:00 GMT"), Some(datetime!(2013-05-24 00:00:00 UTC)));
    }

    #[test]
    fn rejects_malformed_http_dates() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 06 08:49:37 94",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
