//! A tenant's own settings: validated once when an operator writes them
//! ([`SettingsPatch::apply`]), read by the receiver (notify events) and the
//! mailer ([`TenantSettings::mail`]). Every field left unset falls back to the
//! deployment's environment value, then to its default.

use crate::deliver::sendgrid::Mailbox;
use crate::settings::{minutes_list, NotifyEvents, SettingError, DEFAULT_REMINDER_OFFSETS};
use serde::{Deserialize, Deserializer, Serialize};

/// A tenant's settings; `None` falls back to the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    pub name: Option<String>,
    pub email_to: Option<String>,
    pub email_from: Option<String>,
    pub notify_events: Option<String>,
    pub notify_attendees: Option<bool>,
    pub reminder_offsets: Option<String>,
    pub time_zone: Option<String>,
    /// Emails (copies) a tenant may send per hour, instead of `EMAILS_PER_HOUR`.
    #[serde(default)]
    pub emails_per_hour: Option<u32>,
}

/// Longest display name (it becomes the subject prefix).
pub const MAX_NAME_CHARS: usize = 80;

/// An operator's change: a field that is absent stays as it is, `null`
/// clears it (back to the environment's value), a value sets it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email_to: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email_from: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub notify_events: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub notify_attendees: Option<Option<bool>>,
    /// `24h,1h`, `90m`, `off` (as `REMINDER_OFFSETS`); stored as minutes.
    #[serde(default, deserialize_with = "present")]
    pub reminder_offsets: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub time_zone: Option<Option<String>>,
    /// 0: no limit.
    #[serde(default, deserialize_with = "present")]
    pub emails_per_hour: Option<Option<u32>>,
}

/// Tells a field that is `null` (`Some(None)`) from one that is absent (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn invalid(name: &'static str, reason: impl Into<String>) -> SettingError {
    SettingError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// Blank text counts as unset.
fn text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl SettingsPatch {
    /// Applies the change to `s`, refusing any value the workers could not use.
    pub fn apply(self, s: &mut TenantSettings) -> Result<(), SettingError> {
        if let Some(v) = self.name {
            let v = text(v);
            if let Some(n) = &v {
                if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
                    return Err(invalid(
                        "name",
                        format!("at most {MAX_NAME_CHARS} characters, on one line"),
                    ));
                }
            }
            s.name = v;
        }
        if let Some(v) = self.email_to {
            let v = text(v);
            if let Some(t) = &v {
                let list =
                    Mailbox::parse_list(t).map_err(|e| invalid("email_to", e.to_string()))?;
                if list.is_empty() {
                    return Err(invalid("email_to", "no address"));
                }
            }
            s.email_to = v;
        }
        if let Some(v) = self.email_from {
            let v = text(v);
            if let Some(f) = &v {
                Mailbox::parse(f).map_err(|e| invalid("email_from", e.to_string()))?;
            }
            s.email_from = v;
        }
        if let Some(v) = self.notify_events {
            let v = text(v);
            if let Some(e) = &v {
                NotifyEvents::parse(Some(e))
                    .map_err(|e| invalid("notify_events", e.to_string()))?;
            }
            s.notify_events = v;
        }
        if let Some(v) = self.notify_attendees {
            s.notify_attendees = v;
        }
        if let Some(v) = self.reminder_offsets {
            s.reminder_offsets = match text(v) {
                None => None,
                Some(o) => {
                    let minutes =
                        minutes_list("reminder_offsets", Some(&o), DEFAULT_REMINDER_OFFSETS)?;
                    Some(serde_json::to_string(&minutes).unwrap_or_else(|_| "[]".into()))
                }
            };
        }
        if let Some(v) = self.time_zone {
            let v = text(v);
            if let Some(z) = &v {
                if !looks_like_zone(z) {
                    return Err(invalid(
                        "time_zone",
                        "an IANA zone name such as Europe/Berlin",
                    ));
                }
            }
            s.time_zone = v;
        }
        if let Some(v) = self.emails_per_hour {
            if v.is_some_and(|n| n > crate::settings::EMAILS_PER_HOUR.max as u32) {
                return Err(invalid(
                    "emails_per_hour",
                    format!("0 (no limit) to {}", crate::settings::EMAILS_PER_HOUR.max),
                ));
            }
            s.emails_per_hour = v;
        }
        Ok(())
    }
}

/// The shape of an IANA name (`UTC`, `Europe/Berlin`, `America/Argentina/Salta`);
/// the mailer, which has the zone database, falls back to UTC for an unknown one.
fn looks_like_zone(z: &str) -> bool {
    z.len() <= 64
        && z.split('/').count() <= 3
        && z.split('/').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
        })
}

/// What the mailer takes from a tenant; `None` falls back to the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantMail {
    pub to: Option<Vec<Mailbox>>,
    pub from: Option<Mailbox>,
    pub notify_attendees: Option<bool>,
    /// `[Acme] ` before every subject.
    pub subject_prefix: Option<String>,
    /// The zone an email shows times in when the event names none.
    pub time_zone: Option<String>,
    /// Disabled by an operator: its reminders and follow-ups are dropped.
    pub disabled: bool,
    /// Its own emails-per-hour limit (0: none), else `EMAILS_PER_HOUR`.
    pub emails_per_hour: Option<u32>,
}

impl TenantSettings {
    /// The mail settings (validated on write; re-checked, as rows can be
    /// edited by hand).
    pub fn mail(&self) -> Result<TenantMail, SettingError> {
        let to = match self.email_to.as_deref() {
            Some(t) => {
                Some(Mailbox::parse_list(t).map_err(|e| invalid("email_to", e.to_string()))?)
            }
            None => None,
        };
        let from = match self.email_from.as_deref() {
            Some(f) => Some(Mailbox::parse(f).map_err(|e| invalid("email_from", e.to_string()))?),
            None => None,
        };
        Ok(TenantMail {
            to: to.filter(|l| !l.is_empty()),
            from,
            notify_attendees: self.notify_attendees,
            subject_prefix: self.name.as_ref().map(|n| format!("[{n}] ")),
            time_zone: self.time_zone.clone(),
            disabled: false,
            emails_per_hour: self.emails_per_hour,
        })
    }

    /// `NOTIFY_EVENTS` for this tenant: its own list, else the environment's.
    pub fn notify_events(&self, environment: &NotifyEvents) -> Result<NotifyEvents, SettingError> {
        match self.notify_events.as_deref() {
            Some(e) => NotifyEvents::parse(Some(e)),
            None => Ok(environment.clone()),
        }
    }

    /// Reminder offsets (minutes) for this tenant: its own, else the environment's.
    pub fn reminder_offsets(&self, environment: &[u32]) -> Vec<u32> {
        self.reminder_offsets
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| environment.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> SettingsPatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_absent_field_stays_and_null_clears_it() {
        let mut s = TenantSettings {
            name: Some("Acme".into()),
            email_to: Some("ops@acme.test".into()),
            ..TenantSettings::default()
        };
        patch(r#"{"email_to": null}"#).apply(&mut s).unwrap();
        assert_eq!(s.name.as_deref(), Some("Acme"));
        assert_eq!(s.email_to, None);
    }

    #[test]
    fn reminder_offsets_are_stored_as_minutes_and_off_means_none() {
        let mut s = TenantSettings::default();
        patch(r#"{"reminder_offsets": "1h, 24h"}"#)
            .apply(&mut s)
            .unwrap();
        assert_eq!(s.reminder_offsets.as_deref(), Some("[60,1440]"));
        assert_eq!(s.reminder_offsets(&[5]), vec![60, 1440]);
        patch(r#"{"reminder_offsets": "off"}"#)
            .apply(&mut s)
            .unwrap();
        assert_eq!(s.reminder_offsets(&[5]), Vec::<u32>::new());
        patch(r#"{"reminder_offsets": null}"#)
            .apply(&mut s)
            .unwrap();
        assert_eq!(s.reminder_offsets(&[5]), vec![5], "the environment's");
    }

    #[test]
    fn unusable_values_are_refused_naming_the_field() {
        for (json, field) in [
            (r#"{"email_to": "not an address"}"#, "email_to"),
            (r#"{"email_from": "a@x.test, b@x.test"}"#, "email_from"),
            (r#"{"notify_events": "BOOKING_EXPLODED"}"#, "notify_events"),
            (r#"{"reminder_offsets": "soon"}"#, "reminder_offsets"),
            (r#"{"time_zone": "../etc/passwd"}"#, "time_zone"),
            (r#"{"name": "two\nlines"}"#, "name"),
        ] {
            let err = patch(json)
                .apply(&mut TenantSettings::default())
                .unwrap_err();
            assert_eq!(err.name(), field, "{json}");
        }
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"secret": "x"}"#).is_err());
    }

    #[test]
    fn the_mail_settings_fall_back_field_by_field() {
        let s = TenantSettings {
            name: Some("Acme".into()),
            email_to: Some("\"Ops, Acme\" <ops@acme.test>, cto@acme.test".into()),
            ..TenantSettings::default()
        };
        let mail = s.mail().unwrap();
        assert_eq!(mail.to.unwrap().len(), 2);
        assert_eq!(mail.from, None, "the environment's EMAIL_FROM");
        assert_eq!(mail.notify_attendees, None);
        assert_eq!(mail.subject_prefix.as_deref(), Some("[Acme] "));
    }

    #[test]
    fn a_tenants_notify_events_replace_the_environments() {
        let env = NotifyEvents::parse(None).unwrap();
        let s = TenantSettings {
            notify_events: Some("BOOKING_CANCELLED".into()),
            ..TenantSettings::default()
        };
        let mine = s.notify_events(&env).unwrap();
        assert!(mine.includes(&crate::inbound::event::Trigger::BookingCancelled));
        assert!(!mine.includes(&crate::inbound::event::Trigger::BookingCreated));
        let fallback = TenantSettings::default().notify_events(&env).unwrap();
        assert!(fallback.includes(&crate::inbound::event::Trigger::BookingCreated));
    }
}
