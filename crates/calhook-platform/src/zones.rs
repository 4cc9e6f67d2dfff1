//! Zone offsets from the runtime: `Intl.DateTimeFormat` (workerd ships ICU's
//! zone data), so this worker's wasm carries no time-zone database.
//!
//! The offset of `zone` at an instant is the wall-clock time Intl shows there
//! minus the instant itself. Native tests get the same answers from chrono-tz
//! (`calhook_core::message::zones::Tzdb`); the e2e tests render through this one.

use std::cell::RefCell;
use std::collections::HashMap;

use calhook_core::message::zones::ZoneOffsets;
use chrono::{DateTime, NaiveDate, Utc};
use worker::js_sys::{Array, Object, Reflect};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
extern "C" {
    #[wasm_bindgen(js_namespace = Intl, js_name = DateTimeFormat)]
    type Formatter;

    /// Throws a RangeError for a zone ICU does not know: caught, not a panic.
    #[wasm_bindgen(constructor, js_namespace = Intl, js_class = "DateTimeFormat", catch)]
    fn new(locale: &str, options: &Object) -> Result<Formatter, JsValue>;

    #[wasm_bindgen(method, js_name = formatToParts)]
    fn format_to_parts(this: &Formatter, epoch_ms: f64) -> Array;
}

/// Zones asked about in this isolate; an event names a handful, so this
/// stays small. Emptied if it ever reaches the bound.
const MAX_CACHED_ZONES: usize = 256;

thread_local! {
    static FORMATTERS: RefCell<HashMap<String, Option<Formatter>>> = RefCell::new(HashMap::new());
}

/// The runtime's zone data.
pub struct IntlZones;

impl ZoneOffsets for IntlZones {
    fn offset_seconds(&self, zone: &str, at: DateTime<Utc>) -> Option<i32> {
        FORMATTERS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if !cache.contains_key(zone) {
                if cache.len() >= MAX_CACHED_ZONES {
                    cache.clear();
                }
                cache.insert(zone.to_owned(), formatter(zone));
            }
            let formatter = cache.get(zone)?.as_ref()?;
            let seconds = at.timestamp();
            let wall = wall_clock(formatter, seconds as f64 * 1000.0)?;
            i32::try_from(wall - seconds).ok()
        })
    }
}

/// An en-US formatter with every field numeric and a 24-hour clock.
fn formatter(zone: &str) -> Option<Formatter> {
    let options = Object::new();
    let set = |k: &str, v: &str| Reflect::set(&options, &k.into(), &v.into()).is_ok();
    let ok = set("timeZone", zone)
        && set("hourCycle", "h23")
        && ["year", "month", "day", "hour", "minute", "second"]
            .iter()
            .all(|field| set(field, "numeric"));
    ok.then(|| Formatter::new("en-US", &options).ok())?
}

/// The wall-clock time the formatter shows at `epoch_ms`, as seconds since
/// 1970 read as if it were UTC.
fn wall_clock(formatter: &Formatter, epoch_ms: f64) -> Option<i64> {
    let mut fields = [0u32; 6];
    for part in formatter.format_to_parts(epoch_ms).iter() {
        let part: &Object = part.unchecked_ref();
        let kind = Reflect::get(part, &"type".into()).ok()?.as_string()?;
        let slot = match kind.as_str() {
            "year" => 0,
            "month" => 1,
            "day" => 2,
            "hour" => 3,
            "minute" => 4,
            "second" => 5,
            _ => continue,
        };
        let value = Reflect::get(part, &"value".into()).ok()?.as_string()?;
        fields[slot] = value.parse().ok()?;
    }
    let [year, month, day, hour, minute, second] = fields;
    // Some ICU versions write midnight as "24" even with h23.
    let time = (hour % 24) * 3600 + minute * 60 + second;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp() + i64::from(time))
}
