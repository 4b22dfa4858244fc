use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A wall-clock instant in milliseconds since the Unix epoch.
///
/// Kept as a plain integer (not `SystemTime`) so that records serialize compactly, compare
/// across nodes, and so that pure code can be tested with made-up instants.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(since_epoch.as_millis() as i64)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, duration: Duration) -> Timestamp {
        // `as i64` would wrap a huge duration into a time in the past.
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }

    /// How long after `earlier` this instant is; zero when it is not after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// `YYYY-MM-DD hh:mm:ss` in UTC, the format orchestrator's API uses for timestamps.
    pub fn to_sql_datetime(self) -> String {
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let secs_of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
            secs_of_day / 3600,
            (secs_of_day / 60) % 60,
            secs_of_day % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sql_datetime())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm), so that
/// formatting a timestamp needs no calendar crate.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_huge_duration_saturates_instead_of_wrapping_into_the_past() {
        let now = Timestamp::now();
        assert!(now.plus(Duration::from_secs(u64::MAX)) > now);
        assert_eq!(now.plus(Duration::from_secs(u64::MAX)), Timestamp(i64::MAX));
        assert_eq!(now.plus(Duration::from_secs(1)).0, now.0 + 1000);
    }

    #[test]
    fn formats_as_sql_datetime_in_utc() {
        assert_eq!(Timestamp(0).to_sql_datetime(), "1970-01-01 00:00:00");
        // 2026-11-23 04:34:20 UTC
        assert_eq!(
            Timestamp(1_795_408_460_000).to_sql_datetime(),
            "2026-11-23 04:34:20"
        );
        // A leap day.
        assert_eq!(
            Timestamp(951_782_400_000).to_sql_datetime(),
            "2000-02-29 00:00:00"
        );
    }

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Timestamp(5_000).since(Timestamp(2_000)).as_secs(), 3);
        assert_eq!(Timestamp(2_000).since(Timestamp(5_000)), Duration::ZERO);
    }
}
