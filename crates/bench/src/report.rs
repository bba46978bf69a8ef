//! Numbers as a run reports them: rounded figures, `?` for what is unknown, shares, MiB, server
//! CPU per unit of work; and the tally of `error` frames.

/// `v` rounded to `places` decimals.
pub fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// A figure for the human summary, `?` when unknown.
pub fn opt(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v}"))
}

/// A share in percent to one decimal (CPU shares), when known.
pub fn pct1(v: Option<f64>) -> Option<f64> {
    v.map(|v| round(v, 1))
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

/// Bytes in MiB to one decimal for the human summary, `?` when unknown.
pub fn mib(bytes: Option<u64>) -> String {
    opt(bytes.map(|b| round(b as f64 / 1048576.0, 1)))
}

/// Server CPU microseconds per unit of work, rounded to `places` decimals: `None` when the CPU
/// time is unknown or nothing was done.
pub fn us_each(cpu_secs: Option<f64>, count: u64, places: i32) -> Option<f64> {
    cpu_secs.filter(|_| count > 0).map(|c| round(c * 1e6 / count as f64, places))
}

/// `base` with the fields of `more` added (both JSON objects; a long result is built in parts).
pub fn merged(mut base: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(o), serde_json::Value::Object(m)) = (base.as_object_mut(), more) {
        o.extend(m);
    }
    base
}

/// The `error` frames a run received: how many, and the first one in full.
#[derive(Debug, Default)]
pub struct Errors {
    pub count: u64,
    pub first: Option<String>,
}

impl Errors {
    pub fn note(&mut self, payload: &[u8]) {
        self.count += 1;
        self.first.get_or_insert_with(|| String::from_utf8_lossy(payload).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_round_and_unknowns_show_as_question_marks() {
        assert_eq!(round(1.23456, 2), 1.23);
        assert_eq!(opt(None), "?");
        assert_eq!(opt(Some(2.5)), "2.5");
        assert_eq!(pct(1, 4), 25.0);
        assert_eq!(pct(1, 0), 0.0);
        assert_eq!(mib(Some(3 * 1048576)), "3");
        assert_eq!(us_each(Some(0.5), 0, 1), None);
        assert_eq!(us_each(Some(0.5), 1000, 1), Some(500.0));
        let mut e = Errors::default();
        e.note(b"first");
        e.note(b"second");
        assert_eq!((e.count, e.first.as_deref()), (2, Some("first")));
    }
}
