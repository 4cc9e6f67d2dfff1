//! Local times in IANA zones, without carrying a zone database.
//!
//! An email needs one number per time it shows: the zone's UTC offset at that
//! instant. The mailer asks the runtime for it (`Intl.DateTimeFormat`, which
//! workerd ships with ICU's zone data), so its wasm holds no database; native
//! code and tests use chrono-tz through [`Tzdb`] (feature `tzdb`). Both answer
//! the same question, and everything shown is computed here from the answer,
//! so the two give the same words.

use chrono::{DateTime, FixedOffset, Utc};

/// Where a zone's UTC offset at an instant comes from.
pub trait ZoneOffsets {
    /// Seconds east of UTC in IANA zone `zone` at `at`; `None` when the zone is unknown.
    fn offset_seconds(&self, zone: &str, at: DateTime<Utc>) -> Option<i32>;
}

/// A known zone, by the name the event gave it.
#[derive(Clone, Copy)]
pub struct Zone<'a> {
    name: &'a str,
    offsets: &'a dyn ZoneOffsets,
}

/// Any fixed instant: a zone is known when it has an offset at all.
const PROBE: DateTime<Utc> = DateTime::UNIX_EPOCH;

impl<'a> Zone<'a> {
    /// UTC, known everywhere.
    pub fn utc(offsets: &'a dyn ZoneOffsets) -> Self {
        Self {
            name: "UTC",
            offsets,
        }
    }

    /// `name` when `offsets` knows it.
    pub fn named(name: &'a str, offsets: &'a dyn ZoneOffsets) -> Option<Self> {
        offsets
            .offset_seconds(name, PROBE)
            .map(|_| Self { name, offsets })
    }

    pub fn name(&self) -> &'a str {
        self.name
    }

    /// `at` on this zone's clocks.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.offset(at))
    }

    /// "GMT", "GMT+1", "GMT-4", "GMT+5:45": the offset in force at `at`, in
    /// the runtime's own short style (`timeZoneName: "shortOffset"`). Unlike
    /// abbreviations ("IST" is India, Ireland or Israel) it is never ambiguous.
    /// UTC itself reads "UTC".
    pub fn label(&self, at: DateTime<Utc>) -> String {
        self.label_of(&self.local(at))
    }

    /// [`Zone::label`] of a time already on this zone's clocks: no second lookup.
    pub fn label_of(&self, local: &DateTime<FixedOffset>) -> String {
        if matches!(self.name, "UTC" | "Etc/UTC") {
            return "UTC".to_owned();
        }
        gmt_label(local.offset().local_minus_utc())
    }

    fn offset(&self, at: DateTime<Utc>) -> FixedOffset {
        self.offsets
            .offset_seconds(self.name, at)
            .and_then(FixedOffset::east_opt)
            .unwrap_or(FixedOffset::east_opt(0).expect("zero is an offset"))
    }
}

impl PartialEq for Zone<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// `seconds` east of UTC as "GMT", "GMT+1", "GMT-3:30".
pub fn gmt_label(seconds: i32) -> String {
    let minutes = seconds / 60;
    let sign = if minutes < 0 { '-' } else { '+' };
    let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
    match (h, m) {
        (0, 0) => "GMT".to_owned(),
        (h, 0) => format!("GMT{sign}{h}"),
        (h, m) => format!("GMT{sign}{h}:{m:02}"),
    }
}

/// chrono-tz's compiled-in database: natively (tests, tools), not in the mailer's wasm.
#[cfg(feature = "tzdb")]
pub struct Tzdb;

#[cfg(feature = "tzdb")]
impl ZoneOffsets for Tzdb {
    fn offset_seconds(&self, zone: &str, at: DateTime<Utc>) -> Option<i32> {
        use chrono::Offset;
        let tz: chrono_tz::Tz = zone.parse().ok()?;
        Some(at.with_timezone(&tz).offset().fix().local_minus_utc())
    }
}

#[cfg(all(test, feature = "tzdb"))]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn offsets_read_like_the_runtimes_short_offset() {
        assert_eq!(gmt_label(0), "GMT");
        assert_eq!(gmt_label(3600), "GMT+1");
        assert_eq!(gmt_label(-4 * 3600), "GMT-4");
        assert_eq!(gmt_label(5 * 3600 + 45 * 60), "GMT+5:45");
        assert_eq!(gmt_label(-(3 * 3600 + 30 * 60)), "GMT-3:30");
    }

    #[test]
    fn a_zone_with_a_45_minute_offset_is_shown_to_the_minute() {
        let z = Zone::named("Asia/Kathmandu", &Tzdb).unwrap();
        let t = at("2026-11-25T15:00:00Z");
        assert_eq!(z.local(t).format("%H:%M").to_string(), "20:45");
        assert_eq!(z.label(t), "GMT+5:45");
    }

    #[test]
    fn lord_howe_moves_by_half_an_hour_for_summer() {
        let z = Zone::named("Australia/Lord_Howe", &Tzdb).unwrap();
        assert_eq!(z.label(at("2026-07-01T00:00:00Z")), "GMT+10:30");
        assert_eq!(z.label(at("2026-12-01T00:00:00Z")), "GMT+11");
    }

    #[test]
    fn an_unknown_zone_is_not_a_zone() {
        assert!(Zone::named("Mars/Olympus_Mons", &Tzdb).is_none());
        assert!(Zone::named("", &Tzdb).is_none());
    }
}
