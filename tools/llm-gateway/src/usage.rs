//! `llm-gateway usage`: calls, tokens and cost per team, client, agent,
//! model and provider over a time range, summed from audit records as the
//! audit filter writes them (one JSON object a line, in the collector's file
//! or Envoy's access log), as a table, JSON or CSV.
//!
//! Records hold no prompt or completion text, and the report prints only
//! the grouping values and sums. Memory stays bounded whatever the input:
//! records are read one line at a time, a line longer than any record is
//! skipped without being held, and past `max_groups` distinct groups the
//! remaining records are summed into one `(other)` row.

use audit::record::SCHEMA_VERSION;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::time::SystemTime;

/// Longer lines are not audit records (their values are bounded to 256
/// bytes each) and are skipped.
const MAX_LINE: u64 = 64 * 1024;

/// What the rows of the report are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dimension {
    /// The client's team (`client.team`), as the configuration's `teams`
    /// gave it.
    Team,
    /// The authenticated client (`client.id`).
    Client,
    /// The agent header's value (`x-agent-id` unless told otherwise).
    Agent,
    /// The model the provider was asked for, else the one the client named.
    Model,
    /// The provider that served the call.
    Provider,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Dimension::Team => "team",
            Dimension::Client => "client",
            Dimension::Agent => "agent",
            Dimension::Model => "model",
            Dimension::Provider => "provider",
        }
    }
}

/// How to sum.
#[derive(Debug, Clone)]
pub struct Options {
    pub by: Vec<Dimension>,
    /// The client header the records hold the agent in (`client.<header>`).
    pub agent_header: String,
    /// Only records of calls that started at or after this time.
    pub since: Option<SystemTime>,
    /// Only records of calls that started before this time.
    pub until: Option<SystemTime>,
    /// Distinct groups kept before the rest go to `(other)`.
    pub max_groups: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            by: vec![
                Dimension::Team,
                Dimension::Client,
                Dimension::Agent,
                Dimension::Model,
                Dimension::Provider,
            ],
            agent_header: "x-agent-id".to_owned(),
            since: None,
            until: None,
            max_groups: 10_000,
        }
    }
}

/// The part of an audit record the report reads. A line is a record when it
/// has the audit filter's `schema_version`.
#[derive(Deserialize)]
struct Record {
    schema_version: u32,
    timestamp: Option<String>,
    #[serde(default)]
    client: Map<String, Value>,
    provider: Option<String>,
    #[serde(default)]
    model: Models,
    #[serde(default)]
    tokens: Tokens,
    cost_usd: Option<f64>,
    status: Option<u16>,
}

#[derive(Deserialize, Default)]
struct Models {
    requested: Option<String>,
    upstream: Option<String>,
}

#[derive(Deserialize, Default)]
struct Tokens {
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct TokenUsage {
    input: u64,
    output: u64,
    total: u64,
}

/// The sums of one group (or of everything).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    /// Calls that did not end in a 2xx or 3xx (rejected, failed, aborted).
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    /// At the models' list prices; calls of unpriced models add nothing.
    pub cost_usd: f64,
}

impl Totals {
    fn add(&mut self, record: &Record) {
        self.requests += 1;
        if !matches!(record.status, Some(200..=399)) {
            self.errors += 1;
        }
        if let Some(usage) = &record.tokens.usage {
            self.input_tokens = self.input_tokens.saturating_add(usage.input);
            self.output_tokens = self.output_tokens.saturating_add(usage.output);
            self.total_tokens = self.total_tokens.saturating_add(usage.total);
        }
        self.cost_usd += record.cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
    }

    /// The cost to the nearest billionth of a dollar, as the records have
    /// it, so that sums in another order print the same.
    fn rounded(&self) -> Totals {
        Totals {
            cost_usd: (self.cost_usd * 1e9).round() / 1e9,
            ..self.clone()
        }
    }

    fn merge(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
        self.cost_usd += other.cost_usd;
    }
}

/// The value shown for a missing dimension (a call rejected before it had
/// a provider, a client that sent no agent header).
const NONE: &str = "-";
/// The group of the records beyond `max_groups`.
const OTHER: &str = "(other)";

/// The report being summed.
#[derive(Debug)]
pub struct Usage {
    options: Options,
    groups: BTreeMap<Vec<String>, Totals>,
    /// Records past `max_groups`.
    other: Totals,
    /// Records before `since` (or without a time, when a range is given).
    pub earlier: u64,
    /// Records at or after `until`.
    pub later: u64,
    /// Lines that are not audit records (other log lines, broken JSON,
    /// records of another schema version).
    pub skipped_lines: u64,
}

impl Usage {
    pub fn new(options: Options) -> Usage {
        Usage {
            options,
            groups: BTreeMap::new(),
            other: Totals::default(),
            earlier: 0,
            later: 0,
            skipped_lines: 0,
        }
    }

    /// Sums the records of `input`, a line at a time.
    pub fn read(&mut self, input: impl Read) -> io::Result<()> {
        let mut reader = io::BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)?;
            if read == 0 {
                return Ok(());
            }
            if !line.ends_with(b"\n") && read as u64 == MAX_LINE {
                self.skipped_lines += 1;
                skip_rest_of_line(&mut reader)?;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(&line) {
                Ok(record) if record.schema_version == SCHEMA_VERSION => self.add(&record),
                _ => self.skipped_lines += 1,
            }
        }
    }

    fn add(&mut self, record: &Record) {
        let Options { since, until, .. } = self.options;
        if since.is_some() || until.is_some() {
            let started = record
                .timestamp
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
            let Some(started) = started else {
                self.earlier += 1;
                return;
            };
            if since.is_some_and(|since| started < since) {
                self.earlier += 1;
                return;
            }
            if until.is_some_and(|until| started >= until) {
                self.later += 1;
                return;
            }
        }
        let key: Vec<String> = self
            .options
            .by
            .iter()
            .map(|d| self.value(*d, record).unwrap_or(NONE).to_owned())
            .collect();
        if let Some(totals) = self.groups.get_mut(&key) {
            totals.add(record);
        } else if self.groups.len() < self.options.max_groups {
            self.groups.entry(key).or_default().add(record);
        } else {
            self.other.add(record);
        }
    }

    fn value<'r>(&self, dimension: Dimension, record: &'r Record) -> Option<&'r str> {
        match dimension {
            Dimension::Team => record.client.get("team").and_then(Value::as_str),
            Dimension::Client => record.client.get("id").and_then(Value::as_str),
            Dimension::Agent => record
                .client
                .get(&self.options.agent_header)
                .and_then(Value::as_str),
            Dimension::Model => record
                .model
                .upstream
                .as_deref()
                .or(record.model.requested.as_deref()),
            Dimension::Provider => record.provider.as_deref(),
        }
    }

    /// The rows, most costly first (then most requests, then by name), the
    /// `(other)` row last.
    pub fn rows(&self) -> Vec<(Vec<String>, Totals)> {
        let mut rows: Vec<(Vec<String>, Totals)> = self
            .groups
            .iter()
            .map(|(key, totals)| (key.clone(), totals.rounded()))
            .collect();
        rows.sort_by(|(a_key, a), (b_key, b)| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then(b.requests.cmp(&a.requests))
                .then(a_key.cmp(b_key))
        });
        if self.other.requests > 0 {
            rows.push((
                vec![OTHER.to_owned(); self.options.by.len()],
                self.other.rounded(),
            ));
        }
        rows
    }

    pub fn total(&self) -> Totals {
        let mut total = self.other.clone();
        for totals in self.groups.values() {
            total.merge(totals);
        }
        total.rounded()
    }

    /// The report as JSON: `{"by": [...], "rows": [{<dimension>: value, ...
    /// totals}], "total": {...}, "skipped_lines": n, "earlier": n,
    /// "later": n}`.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows()
            .into_iter()
            .map(|(key, totals)| {
                let mut row: Map<String, Value> = self
                    .options
                    .by
                    .iter()
                    .zip(key)
                    .map(|(d, v)| (d.name().to_owned(), Value::String(v)))
                    .collect();
                if let Ok(Value::Object(sums)) = serde_json::to_value(&totals) {
                    row.extend(sums);
                }
                Value::Object(row)
            })
            .collect();
        serde_json::json!({
            "by": self.options.by.iter().map(|d| d.name()).collect::<Vec<_>>(),
            "rows": rows,
            "total": self.total(),
            "skipped_lines": self.skipped_lines,
            "earlier": self.earlier,
            "later": self.later,
        })
    }

    /// The report as CSV (RFC 4180): a header line, then one line per row;
    /// no total line, so that a spreadsheet's sums count each call once.
    /// Control characters (line breaks included) are escaped as in the
    /// table, a value holding a comma or a quote is quoted, and a
    /// client-sent value that a spreadsheet would run as a formula (`=`,
    /// `+`, `-`, `@`) is prefixed with `'`.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<&str> = self.options.by.iter().map(|d| d.name()).collect();
        header.extend(SUMS);
        let mut out = header.join(",");
        out.push_str("\r\n");
        for (key, totals) in self.rows() {
            let mut cells: Vec<String> = key.iter().map(|v| csv_cell(v)).collect();
            cells.extend(numbers(&totals));
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// The report as an aligned text table with a total line. Control
    /// characters in client-sent values are escaped, so none reaches the
    /// terminal.
    pub fn to_table(&self) -> String {
        let mut header: Vec<String> = self.options.by.iter().map(|d| d.name().into()).collect();
        let text_columns = header.len();
        header.extend(SUMS.map(String::from));
        let mut lines = vec![header];
        for (key, totals) in self.rows() {
            let mut line: Vec<String> = key.iter().map(|v| printable(v)).collect();
            line.extend(numbers(&totals));
            lines.push(line);
        }
        let mut total = vec![String::new(); text_columns];
        if let Some(first) = total.first_mut() {
            "total".clone_into(first);
        }
        total.extend(numbers(&self.total()));
        lines.push(total);
        let widths: Vec<usize> = (0..lines.first().map_or(0, Vec::len))
            .map(|i| {
                lines
                    .iter()
                    .filter_map(|l| l.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in &lines {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, width))| {
                    if i < text_columns {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// The columns of the sums, after the dimensions'.
const SUMS: [&str; 6] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
];

/// The sums of a row, as [`SUMS`] names them.
fn numbers(t: &Totals) -> [String; 6] {
    [
        t.requests.to_string(),
        t.errors.to_string(),
        t.input_tokens.to_string(),
        t.output_tokens.to_string(),
        t.total_tokens.to_string(),
        format!("{:.6}", t.cost_usd),
    ]
}

/// One CSV value (see [`Usage::to_csv`]).
fn csv_cell(value: &str) -> String {
    let mut text = printable(value);
    let formula = matches!(text.chars().next(), Some('=' | '+' | '@'))
        || (text.starts_with('-') && text != NONE);
    if formula {
        text.insert(0, '\'');
    }
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Reads up to the end of an overlong line, holding at most a buffer of it.
fn skip_rest_of_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(());
            }
            None => {
                let length = buffer.len();
                reader.consume(length);
            }
        }
    }
}

/// `value` with control characters escaped (`\u{1b}`).
fn printable(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Audit records as a real Envoy run wrote them (tests/harness's audit
    /// test): calls of two clients (`demo` of team `platform`, `intern` of
    /// team `research`, as the demo configures them) and agents to three
    /// providers, a stream, a fallback, an unknown model, 400s, a 429, a
    /// 500, a client abort.
    const FIXTURE: &str = include_str!("../tests/fixtures/audit-records.jsonl");

    fn usage(options: Options, input: &str) -> Usage {
        let mut usage = Usage::new(options);
        usage.read(input.as_bytes()).unwrap();
        usage
    }

    fn fixture_records() -> Vec<Value> {
        FIXTURE
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn totals_equal_the_records_sums() {
        let records = fixture_records();
        let report = usage(Options::default(), FIXTURE);
        let total = report.total();
        let sum = |pointer: &str| -> u64 {
            records
                .iter()
                .filter_map(|r| r.pointer(pointer).and_then(Value::as_u64))
                .sum()
        };
        assert_eq!(total.requests, records.len() as u64);
        assert_eq!(total.input_tokens, sum("/tokens/usage/input"));
        assert_eq!(total.output_tokens, sum("/tokens/usage/output"));
        assert_eq!(total.total_tokens, sum("/tokens/usage/total"));
        assert!(total.total_tokens > 0);
        let cost: f64 = records.iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
        assert!(cost > 0.0 && (total.cost_usd - cost).abs() < 1e-12);
        let failed = records
            .iter()
            .filter(|r| !(200..400).contains(&r["status"].as_u64().unwrap_or(0)))
            .count();
        assert!(failed > 0);
        assert_eq!(total.errors, failed as u64);
        assert_eq!(report.skipped_lines, 0);
    }

    #[test]
    fn rows_group_by_each_chosen_dimension() {
        let records = fixture_records();
        let by_provider = usage(
            Options {
                by: vec![Dimension::Provider],
                ..Options::default()
            },
            FIXTURE,
        );
        let rows = by_provider.rows();
        for (key, totals) in &rows {
            let provider = key[0].as_str();
            let of_it: Vec<&Value> = records
                .iter()
                .filter(|r| r["provider"].as_str().unwrap_or(NONE) == provider)
                .collect();
            assert_eq!(totals.requests, of_it.len() as u64, "{provider}");
        }
        let providers: Vec<&str> = rows.iter().map(|(k, _)| k[0].as_str()).collect();
        assert!(
            providers.contains(&"openai") && providers.contains(&"anthropic"),
            "{providers:?}"
        );
        assert!(
            rows.windows(2).all(|w| w[0].1.cost_usd >= w[1].1.cost_usd),
            "most costly first"
        );
        let by_agent = usage(
            Options {
                by: vec![Dimension::Client, Dimension::Agent],
                ..Options::default()
            },
            FIXTURE,
        );
        let agents: Vec<Vec<String>> = by_agent.rows().into_iter().map(|(k, _)| k).collect();
        assert!(
            agents.contains(&vec!["demo".to_owned(), "agent-7".to_owned()])
                && agents.contains(&vec!["demo".to_owned(), NONE.to_owned()]),
            "{agents:?}"
        );
    }

    #[test]
    fn the_table_and_the_json_say_the_same() {
        let report = usage(Options::default(), FIXTURE);
        let json = report.to_json();
        assert_eq!(json["rows"].as_array().unwrap().len(), report.rows().len());
        assert_eq!(json["total"]["requests"], report.total().requests);
        assert_eq!(
            json["by"],
            serde_json::json!(["team", "client", "agent", "model", "provider"])
        );
        let table = report.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), report.rows().len() + 2);
        assert!(lines[0].starts_with("team") && lines[0].ends_with("cost_usd"));
        let last = lines.last().unwrap();
        assert!(
            last.starts_with("total") && last.ends_with(&format!("{:.6}", report.total().cost_usd))
        );
        let widths: Vec<usize> = lines.iter().map(|l| l.len()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "aligned: {table}");
    }

    /// The fixture's first record with `agent` as its agent header.
    fn with_agent(agent: &str) -> String {
        let mut record = fixture_records().swap_remove(0);
        record["client"]["x-agent-id"] = Value::from(agent);
        record.to_string()
    }

    #[test]
    fn other_lines_are_skipped_and_memory_stays_bounded() {
        let record = FIXTURE.lines().next().unwrap();
        let long = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_LINE as usize * 3));
        let input = format!(
            "{record}\nnot json\n{{\"time\": \"2025\", \"method\": \"POST\"}}\n{long}\n\n{record}"
        );
        let report = usage(Options::default(), &input);
        assert_eq!(
            report.total().requests,
            2,
            "the line after the long one too"
        );
        assert_eq!(report.skipped_lines, 3);
        let many: String = (0..50)
            .map(|i| with_agent(&format!("a{i}")) + "\n")
            .collect();
        let capped = usage(
            Options {
                by: vec![Dimension::Agent],
                max_groups: 10,
                ..Options::default()
            },
            &many,
        );
        let rows = capped.rows();
        assert_eq!(rows.len(), 11);
        assert_eq!(rows[10].0, [OTHER]);
        assert_eq!(rows[10].1.requests, 40);
        assert_eq!(capped.total().requests, 50);
    }

    #[test]
    fn teams_are_a_dimension_and_clients_without_one_are_grouped_apart() {
        let records = fixture_records();
        let by_team = usage(
            Options {
                by: vec![Dimension::Team, Dimension::Client],
                ..Options::default()
            },
            FIXTURE,
        );
        let rows: Vec<(Vec<String>, u64)> = by_team
            .rows()
            .into_iter()
            .map(|(key, totals)| (key, totals.requests))
            .collect();
        let of = |client: &str| {
            records
                .iter()
                .filter(|r| r["client"]["id"] == client)
                .count() as u64
        };
        let key = |team: &str, client: &str| vec![team.to_owned(), client.to_owned()];
        assert_eq!(
            rows,
            [
                (key("platform", "demo"), of("demo")),
                (key("research", "intern"), of("intern"))
            ]
        );
        let mut teamless = fixture_records().swap_remove(0);
        teamless["client"]["team"] = Value::Null;
        let report = usage(
            Options {
                by: vec![Dimension::Team],
                ..Options::default()
            },
            &format!("{teamless}\n{}", FIXTURE.lines().next().unwrap()),
        );
        let teams: Vec<String> = report
            .rows()
            .into_iter()
            .map(|(k, _)| k[0].clone())
            .collect();
        assert_eq!(teams, [NONE, "platform"], "equal sums, so by name");
    }

    #[test]
    fn a_time_range_counts_the_calls_that_started_within_it() {
        let records = fixture_records();
        let mut times: Vec<SystemTime> = records
            .iter()
            .map(|r| humantime::parse_rfc3339_weak(r["timestamp"].as_str().unwrap()).unwrap())
            .collect();
        times.sort_unstable();
        let (since, until) = (times[3], times[times.len() - 4]);
        let report = usage(
            Options {
                since: Some(since),
                until: Some(until),
                ..Options::default()
            },
            FIXTURE,
        );
        let within = times.iter().filter(|t| since <= **t && **t < until).count() as u64;
        assert!(within > 0 && within < records.len() as u64);
        assert_eq!(report.total().requests, within);
        assert_eq!(
            (report.earlier, report.later),
            (3, 4),
            "`until` is left out"
        );
        assert_eq!(report.to_json()["later"], 4);
        let mut untimed = fixture_records().swap_remove(0);
        untimed["timestamp"] = Value::Null;
        let report = usage(
            Options {
                until: Some(until),
                ..Options::default()
            },
            &untimed.to_string(),
        );
        assert_eq!(
            (report.total().requests, report.earlier),
            (0, 1),
            "a record without a time is outside any range"
        );
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_row_with_values_made_safe() {
        let report = usage(Options::default(), FIXTURE);
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert_eq!(
            lines[0],
            "team,client,agent,model,provider,requests,errors,input_tokens,output_tokens,total_tokens,cost_usd"
        );
        assert_eq!(lines.len(), report.rows().len() + 1, "no total line");
        let (key, totals) = &report.rows()[0];
        let first: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(
            first[..5],
            key.iter().map(String::as_str).collect::<Vec<_>>()[..]
        );
        assert_eq!(first[5], totals.requests.to_string());
        assert_eq!(first[10], format!("{:.6}", totals.cost_usd));
        assert!(
            csv.contains("platform,demo,agent-7,gpt-4o-mini,openai,"),
            "{csv}"
        );
        for (agent, cell) in [
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("a,b", "\"a,b\""),
            ("-1+2", "'-1+2"),
            ("@sum", "'@sum"),
            ("line\nbreak", "line\\nbreak"),
        ] {
            let csv = usage(
                Options {
                    by: vec![Dimension::Agent],
                    ..Options::default()
                },
                &with_agent(agent),
            )
            .to_csv();
            let row = csv.split_terminator("\r\n").nth(1).unwrap();
            assert!(row.starts_with(&format!("{cell},1,")), "{agent:?}: {row}");
        }
    }

    #[test]
    fn since_leaves_out_earlier_calls() {
        let records = fixture_records();
        let mut times: Vec<&str> = records
            .iter()
            .map(|r| r["timestamp"].as_str().unwrap())
            .collect();
        times.sort_unstable();
        let middle = humantime::parse_rfc3339_weak(times[times.len() / 2]).unwrap();
        let report = usage(
            Options {
                since: Some(middle),
                ..Options::default()
            },
            FIXTURE,
        );
        let later = times
            .iter()
            .filter(|t| humantime::parse_rfc3339_weak(t).unwrap() >= middle)
            .count() as u64;
        assert_eq!(report.total().requests, later);
        assert_eq!(report.earlier, records.len() as u64 - later);
        let future = usage(
            Options {
                since: Some(SystemTime::now() + Duration::from_secs(60)),
                ..Options::default()
            },
            FIXTURE,
        );
        assert_eq!(future.total().requests, 0);
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let table = usage(Options::default(), &with_agent("\u{1b}[31mred")).to_table();
        assert!(
            !table.contains('\u{1b}') && table.contains("\\u{1b}[31mred"),
            "{table}"
        );
    }
}
