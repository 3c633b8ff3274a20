//! Bad input, table-driven: every row is one request that the server must refuse
//! (wholly or in part) with the right status and a message naming the culprit — or,
//! right at a limit, accept — after which the server is still healthy and exactly the
//! valid events are stored.

use crate::support::{TestServer, batch, credit_model, event, gzip, ndjson, with, without, zstd};
use serde_json::{Value, json};

const PREDICTIONS: &str = "/api/v1/models/credit/predictions";
const FEEDBACK: &str = "/api/v1/models/credit/feedback";
/// Small limits so that the over-limit rows stay small.
const MAX_BODY: usize = 64 * 1024;
const MAX_EVENTS: usize = 50;

/// What must be (or must not be) stored once a row has been sent.
#[derive(Debug, Clone)]
enum Stored {
    /// A prediction with this request id exists.
    Prediction(String),
    /// The (existing) prediction with this request id has a label.
    Label(String),
}

/// One request and everything the server must do with it.
#[derive(Debug)]
struct Case {
    what: &'static str,
    /// The model whose predictions `present` and `absent` refer to.
    model: &'static str,
    path: String,
    content_type: Option<&'static str>,
    encoding: Option<&'static str>,
    /// Sent with chunked transfer encoding, without a `Content-Length`.
    chunked: bool,
    body: Vec<u8>,
    /// Sent (and required to succeed) before `body`, e.g. to make a duplicate.
    setup: Option<Vec<u8>>,
    /// The expected HTTP status; 200 unless [`Case::status`] says otherwise.
    status: u16,
    /// Must occur in the problem `detail` or in some `errors[].path` (of the problem or
    /// of `rejected[]`), so the answer names the field at fault.
    names: Option<String>,
    accepted: Option<u64>,
    duplicates: Option<u64>,
    /// `(index, request_id)` of each rejected item of a batch answer, in order.
    rejected: Option<Vec<(u64, Option<String>)>>,
    present: Vec<Stored>,
    absent: Vec<Stored>,
    /// (version, count): the list endpoint shows exactly `count` predictions of it.
    listed: Option<(&'static str, usize)>,
}

impl Case {
    fn new(what: &'static str, path: &str, body: Vec<u8>) -> Case {
        Case {
            what,
            model: "credit",
            path: path.to_owned(),
            content_type: Some("application/json"),
            encoding: None,
            chunked: false,
            body,
            setup: None,
            status: 200,
            names: None,
            accepted: None,
            duplicates: None,
            rejected: None,
            present: Vec::new(),
            absent: Vec::new(),
            listed: None,
        }
    }

    fn status(mut self, status: u16, names: impl Into<String>) -> Case {
        self.status = status;
        self.names = Some(names.into());
        self
    }

    /// Sends the row to the regression model instead.
    fn regression(mut self) -> Case {
        self.model = "reg";
        self.path = self.path.replace("/models/credit/", "/models/reg/");
        self
    }

    fn content_type(mut self, ct: Option<&'static str>) -> Case {
        self.content_type = ct;
        self
    }

    fn encoding(mut self, enc: &'static str) -> Case {
        self.encoding = Some(enc);
        self
    }

    fn chunked(mut self) -> Case {
        self.chunked = true;
        self
    }

    fn setup(mut self, body: Vec<u8>) -> Case {
        self.setup = Some(body);
        self
    }

    fn counts(mut self, accepted: u64, duplicates: u64) -> Case {
        self.accepted = Some(accepted);
        self.duplicates = Some(duplicates);
        self
    }

    fn rejected(mut self, items: &[(u64, Option<&str>)]) -> Case {
        self.rejected = Some(items.iter().map(|(i, id)| (*i, id.map(str::to_owned))).collect());
        self
    }

    fn stored(mut self, ids: &[&str]) -> Case {
        self.present.extend(ids.iter().map(|id| Stored::Prediction((*id).to_owned())));
        self
    }

    fn not_stored(mut self, ids: &[&str]) -> Case {
        self.absent.extend(ids.iter().map(|id| Stored::Prediction((*id).to_owned())));
        self
    }

    fn labelled(mut self, ids: &[&str]) -> Case {
        self.present.extend(ids.iter().map(|id| Stored::Label((*id).to_owned())));
        self
    }

    fn not_labelled(mut self, ids: &[&str]) -> Case {
        self.absent.extend(ids.iter().map(|id| Stored::Label((*id).to_owned())));
        self
    }

    fn listed(mut self, version: &'static str, count: usize) -> Case {
        self.listed = Some((version, count));
        self
    }
}

/// A batch of a valid event `<id>-ok` followed by `bad`: 200, the bad one rejected at
/// `$.events[1].<field>`, only the good one stored.
fn mixed(what: &'static str, id: &str, bad: Value, field: &str) -> Case {
    let ok = format!("{id}-ok");
    let bad_id = declared_id(&bad);
    let names = format!("$.events[1]{field}");
    let mut case = Case::new(what, PREDICTIONS, batch(&[event(&ok), bad]))
        .status(200, names)
        .counts(1, 0)
        .rejected(&[(1, bad_id.as_deref())])
        .stored(&[&ok]);
    if let Some(bad_id) = bad_id.filter(|id| !id.is_empty()) {
        case = case.not_stored(&[&bad_id]);
    }
    case
}

/// A batch of only `bad`: 422, nothing stored.
fn alone(what: &'static str, bad: Value, field: &str) -> Case {
    let bad_id = declared_id(&bad);
    let names = format!("$.events[0]{field}");
    let mut case =
        Case::new(what, PREDICTIONS, batch(&[bad])).status(422, names).counts(0, 0).rejected(&[(0, bad_id.as_deref())]);
    if let Some(bad_id) = bad_id.filter(|id| !id.is_empty()) {
        case = case.not_stored(&[&bad_id]);
    }
    case
}

/// The request id a rejected item is reported under: what the client sent, when it
/// is a string or a number.
fn declared_id(item: &Value) -> Option<String> {
    match &item["request_id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A valid event of the regression model.
fn reg_event(request_id: &str) -> Value {
    json!({"request_id": request_id, "version": "v1", "features": {"x": 1.5}, "prediction": 3.25})
}

fn labels(items: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "labels": items })).expect("serializable JSON")
}

/// `body` padded with trailing whitespace (still the same JSON) to exactly `len` bytes.
fn padded(mut body: Vec<u8>, len: usize) -> Vec<u8> {
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

fn raw(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn cases() -> Vec<Case> {
    let nested = ["{\"events\": [", &"[".repeat(10_000), &"]".repeat(10_000), "]}"].concat();
    let big_note = "x".repeat(MAX_BODY);
    let many: Vec<Value> = (0..=MAX_EVENTS).map(|i| event(&format!("many-{i}"))).collect();
    let bomb = gzip(&batch(&[with(event("bomb-1"), "/features/note", json!(" ".repeat(4 * MAX_BODY)))]));
    assert!(bomb.len() < MAX_BODY / 4, "the bomb is small on the wire");

    vec![
        // Bodies that are not JSON at all: 400, nothing stored.
        Case::new(
            "malformed JSON",
            PREDICTIONS,
            raw(r#"{"events": [{"request_id": "mal-1", "version": "v1""#),
        )
        .status(400, "not valid JSON")
        .not_stored(&["mal-1"]),
        Case::new("empty body", PREDICTIONS, Vec::new()).status(400, "not valid JSON"),
        Case::new(
            "NaN literal next to a valid event",
            PREDICTIONS,
            raw(r#"{"events": [{"request_id": "nan-ok", "version": "v1", "features": {"age": 1}, "prediction": "good"},
                   {"request_id": "nan-1", "version": "v1", "features": {"age": NaN}, "prediction": "good"}]}"#),
        )
        .status(400, "not valid JSON")
        .not_stored(&["nan-ok", "nan-1"]),
        Case::new(
            "Infinity literal",
            PREDICTIONS,
            raw(r#"{"events": [{"request_id": "inf-1", "version": "v1", "features": {"age": Infinity}, "prediction": "good"}]}"#),
        )
        .status(400, "not valid JSON")
        .not_stored(&["inf-1"]),
        Case::new(
            "number out of range",
            PREDICTIONS,
            raw(r#"{"events": [{"request_id": "huge-1", "version": "v1", "features": {"age": 1e400}, "prediction": "good"}]}"#),
        )
        .status(400, "not valid JSON")
        .not_stored(&["huge-1"]),
        Case::new("10,000 nested arrays", PREDICTIONS, nested.clone().into_bytes())
            .status(400, "recursion limit"),
        Case::new(
            "invalid UTF-8 in a string",
            PREDICTIONS,
            [
                raw(r#"{"events": [{"request_id": "utf-1", "version": "v1", "features": {"age": 1, "city": ""#),
                vec![0xff, 0xfe],
                raw(r#""}, "prediction": "good"}]}"#),
            ]
            .concat(),
        )
        .status(400, "not valid JSON")
        .not_stored(&["utf-1"]),
        Case::new("empty object", PREDICTIONS, raw("{}")).status(422, "$.events"),
        // The envelope itself has the wrong shape: 422 naming the member.
        Case::new("envelope is an array", PREDICTIONS, raw(r#"[{"request_id": "env-1"}]"#))
            .status(422, "$")
            .not_stored(&["env-1"]),
        Case::new(
            "envelope without events",
            PREDICTIONS,
            raw(r#"{"labels": []}"#),
        )
        .status(422, "$.labels"),
        Case::new(
            "unknown member next to events",
            PREDICTIONS,
            serde_json::to_vec(&json!({"events": [event("env-2")], "model": "credit"}))
                .expect("json"),
        )
        .status(422, "$.model")
        .not_stored(&["env-2"]),
        Case::new(
            "events is not an array",
            PREDICTIONS,
            raw(r#"{"events": {"request_id": "env-3"}}"#),
        )
        .status(422, "$.events")
        .not_stored(&["env-3"]),
        // One bad event among good ones: 200 partial success naming the field.
        mixed("event is not an object", "obj", json!(["obj-1"]), ""),
        mixed("request_id is a boolean", "rid", with(event("x"), "/request_id", json!(true)), ".request_id"),
        mixed("request_id is a fraction", "ridf", with(event("x"), "/request_id", json!(1.5)), ".request_id"),
        mixed("request_id is empty", "ride", with(event("x"), "/request_id", json!("")), ".request_id"),
        mixed("request_id is missing", "ridm", without(event("x"), "/request_id"), ".request_id"),
        mixed("request_id is too long", "ridl", with(event("x"), "/request_id", json!("r".repeat(257))), ".request_id"),
        mixed("request_id holds a NUL", "ridz", with(event("x"), "/request_id", json!("ridz\u{0}1")), ".request_id"),
        Case::new(
            "request_id 7 and \"7\" are the same id",
            PREDICTIONS,
            batch(&[with(event("x"), "/request_id", json!(7)), with(event("x"), "/request_id", json!("7"))]),
        )
        .status(200, "$.events[1].request_id")
        .counts(1, 0)
        .rejected(&[(1, Some("7"))])
        .stored(&["7"]),
        mixed("timestamp is a boolean", "ts", with(event("ts-1"), "/timestamp", json!(true)), ".timestamp"),
        mixed("timestamp is not RFC 3339", "tss", with(event("tss-1"), "/timestamp", json!("yesterday")), ".timestamp"),
        mixed("timestamp is fractional milliseconds", "tsf", with(event("tsf-1"), "/timestamp", json!(1.5)), ".timestamp"),
        mixed("timestamp is after 9999", "tsy", with(event("tsy-1"), "/timestamp", json!("10000-01-01T00:00:00Z")), ".timestamp"),
        mixed("timestamp is epoch milliseconds in a string", "tse", with(event("tse-1"), "/timestamp", json!("1700000000000")), ".timestamp"),
        mixed("timestamp is before 1970", "tsn", with(event("tsn-1"), "/timestamp", json!(-1)), ".timestamp"),
        mixed("version is a number", "ver", with(event("ver-1"), "/version", json!(3)), ".version"),
        mixed("version is not a slug", "vers", with(event("vers-1"), "/version", json!("v 1/2")), ".version"),
        mixed("version is missing", "verm", without(event("verm-1"), "/version"), ".version"),
        mixed("features is a string", "feat", with(event("feat-1"), "/features", json!("age=3")), ".features"),
        mixed("numeric feature is a string", "num", with(event("num-1"), "/features/age", json!("old")), ".features.age"),
        mixed("numeric feature is an array", "numa", with(event("numa-1"), "/features/age", json!([41])), ".features.age"),
        mixed("boolean feature is a string", "bool", with(event("bool-1"), "/features/member", json!("yes")), ".features.member"),
        mixed("categorical feature is a fraction", "cat", with(event("cat-1"), "/features/city", json!(1.5)), ".features.city"),
        mixed("categorical feature is an object", "cato", with(event("cato-1"), "/features/city", json!({"name": "Paris"})), ".features.city"),
        mixed("categorical value too long", "catl", with(event("catl-1"), "/features/city", json!("c".repeat(1025))), ".features.city"),
        mixed("text feature is a number", "txt", with(event("txt-1"), "/features/note", json!(7)), ".features.note"),
        mixed("non-nullable feature is missing", "req", without(event("req-1"), "/features/age"), ".features.age"),
        mixed("non-nullable feature is null", "reqn", with(event("reqn-1"), "/features/age", Value::Null), ".features.age"),
        mixed("unknown feature", "unk", with(event("unk-1"), "/features/height", json!(180)), ".features.height"),
        mixed("unknown feature whose name needs quoting", "unkq", with(event("unkq-1"), "/features/income (usd)", json!(1)), r#".features["income (usd)"]"#),
        mixed("unknown top-level field", "top", with(event("top-1"), "/colour", json!("red")), ".colour"),
        mixed("prediction is an array", "pred", with(event("pred-1"), "/prediction", json!(["good"])), ".prediction"),
        mixed("prediction is a fraction", "predf", with(event("predf-1"), "/prediction", json!(0.7)), ".prediction"),
        mixed("prediction is missing", "predm", without(event("predm-1"), "/prediction"), ".prediction"),
        mixed("prediction is an unknown class", "predc", with(event("predc-1"), "/prediction", json!("meh")), ".prediction"),
        mixed("prediction is too long", "predl", with(event("predl-1"), "/prediction", json!("g".repeat(1025))), ".prediction"),
        mixed("scores is a string", "sc", with(event("sc-1"), "/scores", json!("high")), ".scores"),
        mixed("a score is a string", "scs", with(event("scs-1"), "/scores/good", json!("high")), ".scores.good"),
        mixed("a score of an unknown class", "scc", with(event("scc-1"), "/scores/meh", json!(0.1)), ".scores.meh"),
        mixed("a probability above 1", "sch", with(event("sch-1"), "/scores/bad", json!(1.5)), ".scores.bad"),
        mixed("a probability below 0", "scl", with(event("scl-1"), "/scores/good", json!(-0.1)), ".scores.good"),
        mixed("a bare score above 1", "scb", with(event("scb-1"), "/scores", json!(2)), ".scores"),
        mixed("latency_ms is a string", "lat", with(event("lat-1"), "/latency_ms", json!("fast")), ".latency_ms"),
        mixed("latency_ms is negative", "latn", with(event("latn-1"), "/latency_ms", json!(-3)), ".latency_ms"),
        mixed("tags is an array", "tag", with(event("tag-1"), "/tags", json!(["eu"])), ".tags"),
        mixed("too many tags", "tagm", with(event("tagm-1"), "/tags", Value::Object((0..65).map(|i| (format!("k{i}"), json!("v"))).collect())), ".tags"),
        mixed("empty tag key", "tage", with(event("tage-1"), "/tags/", json!("v")), r#".tags[""]"#),
        mixed("a tag value is an object", "tago", with(event("tago-1"), "/tags/region", json!({"x": 1})), ".tags.region"),
        mixed("error is a number", "err", with(event("err-1"), "/error", json!(42)), ".error"),
        mixed("error type is a number", "errt", with(event("errt-1"), "/error", json!({"type": 1, "message": "boom"})), ".error.type"),
        mixed("error has an unknown member", "erru", with(event("erru-1"), "/error", json!({"type": "E", "stack": "..."})), ".error.stack"),
        // Every event refused: 422, with the same per-event detail.
        alone("only event has a wrong-type feature", with(event("all-1"), "/features/age", json!("old")), ".features.age"),
        alone("only event lacks its prediction", without(event("all-2"), "/prediction"), ".prediction"),
        Case::new(
            "two bad events",
            PREDICTIONS,
            batch(&[
                with(event("all-3"), "/scores/bad", json!(7)),
                with(event("all-4"), "/features/member", json!(1)),
            ]),
        )
        .status(422, "$.events[1].features.member")
        .counts(0, 0)
        .rejected(&[(0, Some("all-3")), (1, Some("all-4"))])
        .not_stored(&["all-3", "all-4"]),
        // NDJSON: a line that is not JSON rejects only that line.
        Case::new(
            "NDJSON line that is not JSON",
            PREDICTIONS,
            [ndjson(&[event("nd-ok")]), raw("{\"request_id\": \"nd-1\",\n"), ndjson(&[event("nd-ok2")])].concat(),
        )
        .content_type(Some("application/x-ndjson"))
        .status(200, "$[1]")
        .counts(2, 0)
        .rejected(&[(1, None)])
        .stored(&["nd-ok", "nd-ok2"])
        .not_stored(&["nd-1"]),
        Case::new(
            "NDJSON line with NaN",
            PREDICTIONS,
            [ndjson(&[event("ndn-ok")]), raw(r#"{"request_id": "ndn-1", "version": "v1", "features": {"age": NaN}, "prediction": "good"}"#)].concat(),
        )
        .content_type(Some("application/x-ndjson"))
        .status(200, "$[1]")
        .counts(1, 0)
        .stored(&["ndn-ok"])
        .not_stored(&["ndn-1"]),
        Case::new(
            "NDJSON line of 10,000 nested arrays",
            PREDICTIONS,
            [ndjson(&[event("ndd-ok")]), nested.into_bytes()].concat(),
        )
        .content_type(Some("application/x-ndjson"))
        .status(200, "$[1]")
        .counts(1, 0)
        .rejected(&[(1, None)])
        .stored(&["ndd-ok"]),
        Case::new(
            "NDJSON line that is an array",
            PREDICTIONS,
            [ndjson(&[event("nda-ok")]), raw(r#"["nda-1"]"#)].concat(),
        )
        .content_type(Some("application/x-ndjson"))
        .status(200, "$[1]")
        .counts(1, 0)
        .stored(&["nda-ok"]),
        // A regression model wants numbers and has no classes.
        Case::new("regression prediction is a class", PREDICTIONS, batch(&[reg_event("reg-ok"), with(reg_event("reg-1"), "/prediction", json!("high"))]))
            .regression()
            .status(200, "$.events[1].prediction")
            .counts(1, 0)
            .stored(&["reg-ok"])
            .not_stored(&["reg-1"]),
        Case::new("regression prediction is a boolean", PREDICTIONS, batch(&[with(reg_event("reg-2"), "/prediction", json!(true))]))
            .regression()
            .status(422, "$.events[0].prediction")
            .not_stored(&["reg-2"]),
        Case::new("regression event with scores", PREDICTIONS, batch(&[with(reg_event("reg-3"), "/scores", json!({"high": 0.5}))]))
            .regression()
            .status(422, "$.events[0].scores")
            .not_stored(&["reg-3"]),
        Case::new("regression label is a class", FEEDBACK, labels(&[json!({"request_id": "reg-ok", "label": "high"})]))
            .regression()
            .status(422, "$.labels[0].label")
            .not_labelled(&["reg-ok"]),
        // Duplicates.
        Case::new(
            "duplicate request_id within a batch",
            PREDICTIONS,
            batch(&[event("dup-1"), with(event("dup-1"), "/prediction", json!("bad")), event("dup-2")]),
        )
        .status(200, "$.events[1].request_id")
        .counts(2, 0)
        .rejected(&[(1, Some("dup-1"))])
        .stored(&["dup-1", "dup-2"]),
        Case::new(
            "duplicate request_id across batches",
            PREDICTIONS,
            batch(&[
                with(event("dupx-1"), "/version", json!("dupx")),
                with(event("dupx-2"), "/version", json!("dupx")),
            ]),
        )
        .setup(batch(&[with(event("dupx-1"), "/version", json!("dupx"))]))
        .counts(1, 1)
        .rejected(&[])
        .stored(&["dupx-1", "dupx-2"])
        .listed("dupx", 2),
        // Limits.
        Case::new(
            "body over the size limit",
            PREDICTIONS,
            batch(&[with(event("big-1"), "/features/note", json!(big_note))]),
        )
        .status(413, "limit")
        .not_stored(&["big-1"]),
        Case::new("body exactly at the size limit", PREDICTIONS, padded(batch(&[event("lim-1")]), MAX_BODY))
            .counts(1, 0)
            .stored(&["lim-1"]),
        Case::new("body one byte over the size limit", PREDICTIONS, padded(batch(&[event("lim-2")]), MAX_BODY + 1))
            .status(413, "limit")
            .not_stored(&["lim-2"]),
        Case::new("gzip body exactly at the decompressed limit", PREDICTIONS, gzip(&padded(batch(&[event("lim-3")]), MAX_BODY)))
            .encoding("gzip")
            .counts(1, 0)
            .stored(&["lim-3"]),
        Case::new("gzip body one byte over the decompressed limit", PREDICTIONS, gzip(&padded(batch(&[event("lim-4")]), MAX_BODY + 1)))
            .encoding("gzip")
            .status(413, "limit")
            .not_stored(&["lim-4"]),
        Case::new("chunked body within the size limit", PREDICTIONS, batch(&[event("chunk-1")]))
            .chunked()
            .counts(1, 0)
            .stored(&["chunk-1"]),
        Case::new("chunked body over the size limit", PREDICTIONS, padded(batch(&[event("chunk-2")]), 2 * MAX_BODY))
            .chunked()
            .status(413, "limit")
            .not_stored(&["chunk-2"]),
        Case::new("chunked gzip bomb", PREDICTIONS, gzip(&padded(batch(&[event("chunk-3")]), 4 * MAX_BODY)))
            .chunked()
            .encoding("gzip")
            .status(413, "limit")
            .not_stored(&["chunk-3"]),
        Case::new("too many events", PREDICTIONS, batch(&many))
            .status(413, "limit is 50")
            .not_stored(&["many-0"]),
        Case::new("too many NDJSON lines", PREDICTIONS, ndjson(&many))
            .content_type(Some("application/x-ndjson"))
            .status(413, "limit is 50")
            .not_stored(&["many-0"]),
        // Encodings and content types.
        Case::new("gzip that is not gzip", PREDICTIONS, batch(&[event("gz-1")]))
            .encoding("gzip")
            .status(400, "gzip")
            .not_stored(&["gz-1"]),
        Case::new("truncated gzip", PREDICTIONS, {
            let mut g = gzip(&batch(&[event("gzt-1")]));
            g.truncate(g.len() / 2);
            g
        })
        .encoding("gzip")
        .status(400, "gzip")
        .not_stored(&["gzt-1"]),
        Case::new("zstd that is not zstd", PREDICTIONS, batch(&[event("zs-1")]))
            .encoding("zstd")
            .status(400, "zstd")
            .not_stored(&["zs-1"]),
        Case::new("gzip bomb over the decompressed limit", PREDICTIONS, bomb)
            .encoding("gzip")
            .status(413, "limit")
            .not_stored(&["bomb-1"]),
        Case::new("zstd bomb over the decompressed limit", PREDICTIONS, zstd(&batch(&[with(
            event("zbomb-1"),
            "/features/note",
            json!(" ".repeat(4 * MAX_BODY)),
        )])))
        .encoding("zstd")
        .status(413, "limit")
        .not_stored(&["zbomb-1"]),
        Case::new("brotli encoding", PREDICTIONS, batch(&[event("br-1")]))
            .encoding("br")
            .status(415, "\"br\"")
            .not_stored(&["br-1"]),
        Case::new("text/plain body", PREDICTIONS, batch(&[event("tp-1")]))
            .content_type(Some("text/plain"))
            .status(415, "text/plain")
            .not_stored(&["tp-1"]),
        Case::new("form body", PREDICTIONS, raw("request_id=form-1"))
            .content_type(Some("application/x-www-form-urlencoded"))
            .status(415, "application/x-www-form-urlencoded")
            .not_stored(&["form-1"]),
        // Unknown model.
        Case::new("unknown model", "/api/v1/models/nope/predictions", batch(&[event("nope-1")]))
            .status(404, "nope")
            .not_stored(&["nope-1"]),
        Case::new("feedback for an unknown model", "/api/v1/models/nope/feedback", labels(&[json!({"request_id": "fb-1", "label": "bad"})]))
            .status(404, "nope")
            .not_labelled(&["fb-1"]),
        Case::new("too many labels", FEEDBACK, labels(&(0..=MAX_EVENTS).map(|i| json!({"request_id": format!("fb-{i}"), "label": "bad"})).collect::<Vec<_>>()))
            .status(413, "limit is 50")
            .not_labelled(&["fb-1"]),
        Case::new("model name is not UTF-8", "/api/v1/models/%FF/predictions", batch(&[event("utf-2")]))
            .status(400, "path")
            .not_stored(&["utf-2"]),
        // Feedback.
        Case::new(
            "label of an unknown class",
            FEEDBACK,
            labels(&[json!({"request_id": "fb-1", "label": "good"}), json!({"request_id": "fb-2", "label": "meh"})]),
        )
        .status(200, "$.labels[1].label")
        .counts(1, 0)
        .rejected(&[(1, Some("fb-2"))])
        .labelled(&["fb-1"])
        .not_labelled(&["fb-2"]),
        Case::new("label missing", FEEDBACK, labels(&[json!({"request_id": "fb-3"})]))
            .status(422, "$.labels[0].label")
            .counts(0, 0)
            .rejected(&[(0, Some("fb-3"))])
            .not_labelled(&["fb-3"]),
        Case::new("label is an array", FEEDBACK, labels(&[json!({"request_id": "fb-4", "label": ["bad"]})]))
            .status(422, "$.labels[0].label")
            .not_labelled(&["fb-4"]),
        Case::new("label has an unknown member", FEEDBACK, labels(&[json!({"request_id": "fb-5", "label": "bad", "score": 1})]))
            .status(422, "$.labels[0].score")
            .not_labelled(&["fb-5"]),
        Case::new("label request_id is an object", FEEDBACK, labels(&[json!({"request_id": {"id": "fb-5"}, "label": "bad"})]))
            .status(422, "$.labels[0].request_id")
            .not_labelled(&["fb-5"]),
        Case::new("label timestamp is not a time", FEEDBACK, labels(&[json!({"request_id": "fb-5", "label": "bad", "timestamp": "soon"})]))
            .status(422, "$.labels[0].timestamp")
            .not_labelled(&["fb-5"]),
        Case::new("labels sent as events", FEEDBACK, batch(&[json!({"request_id": "fb-5", "label": "bad"})]))
            .status(422, "$.events")
            .not_labelled(&["fb-5"]),
        Case::new(
            "duplicate label within a batch",
            FEEDBACK,
            labels(&[json!({"request_id": "fb-6", "label": "good"}), json!({"request_id": "fb-6", "label": "bad"})]),
        )
        .status(200, "$.labels[1].request_id")
        .counts(1, 0)
        .rejected(&[(1, Some("fb-6"))])
        .labelled(&["fb-6"]),
    ]
}

/// Request ids of predictions stored before the table runs, for the feedback rows.
const LABEL_TARGETS: [&str; 6] = ["fb-1", "fb-2", "fb-3", "fb-4", "fb-5", "fb-6"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_precisely() {
    let server = TestServer::start_with(|c| {
        c.max_body_bytes = MAX_BODY;
        c.max_batch_events = MAX_EVENTS;
    })
    .await;
    server.create_model(&credit_model("credit")).await;
    server
        .create_model(&json!({
            "name": "reg",
            "task": "regression",
            "features": [{"name": "x", "type": "numeric", "nullable": false}],
        }))
        .await;
    let targets: Vec<Value> = LABEL_TARGETS.iter().map(|id| event(id)).collect();
    server.ingest("credit", &targets).await;

    let mut failures = Vec::new();
    for case in cases() {
        if let Err(why) = check(&server, &case).await {
            failures.push(format!("{}: {why}", case.what));
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

async fn exists(server: &TestServer, model: &str, what: &Stored) -> Result<bool, String> {
    let id = match what {
        Stored::Prediction(id) | Stored::Label(id) => id,
    };
    let r = server.get(&format!("/api/v1/models/{model}/predictions/{}", encode(id))).await;
    match (what, r.status) {
        (Stored::Prediction(_), 200) => Ok(true),
        (Stored::Prediction(_), 404) if r.json["code"] == "prediction_not_found" => Ok(false),
        (Stored::Label(_), 200) => Ok(!r.json["label"].is_null()),
        _ => Err(format!("GET prediction {id:?}: {} {}", r.status, short(&r.text))),
    }
}

/// A response body cut to a readable length for a failure message.
fn short(text: &str) -> String {
    const MAX: usize = 600;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Percent-encodes a request id for a URL path.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn check(server: &TestServer, case: &Case) -> Result<(), String> {
    // What the row says is stored afterwards must not have been stored before, or the
    // row would prove nothing.
    for s in &case.present {
        let before = exists(server, case.model, s).await?;
        ensure!(!before, "{s:?} existed before the row was sent");
    }
    if let Some(setup) = &case.setup {
        let r = server.post_raw(&case.path, Some("application/json"), None, setup.clone()).await;
        ensure!(r.status == 200, "setup failed: {} {}", r.status, short(&r.text));
    }

    let r = if case.chunked {
        server.post_chunked(&case.path, case.content_type, case.encoding, &case.body).await
    } else {
        server.post_raw(&case.path, case.content_type, case.encoding, case.body.clone()).await
    };
    ensure!(r.status == case.status, "status {} instead of {}: {}", r.status, case.status, short(&r.text));
    if r.status >= 400 {
        ensure!(
            r.header("content-type") == Some("application/problem+json"),
            "content type {:?} instead of a problem document",
            r.header("content-type")
        );
        ensure!(
            r.json["status"] == json!(r.status),
            "problem status member {} disagrees with the HTTP status",
            r.json["status"]
        );
        ensure!(r.json["detail"].is_string(), "no detail: {}", short(&r.text));
    }
    if let Some(names) = &case.names {
        let mut said: Vec<String> = r.error_paths();
        if let Some(d) = r.json["detail"].as_str() {
            said.push(d.to_owned());
        }
        for item in r.json["rejected"].as_array().into_iter().flatten() {
            for e in item["errors"].as_array().into_iter().flatten() {
                if let Some(p) = e["path"].as_str() {
                    said.push(p.to_owned());
                }
            }
        }
        ensure!(said.iter().any(|s| s.contains(names.as_str())), "nothing names {names:?}: {}", short(&r.text));
    }
    if let Some(n) = case.accepted {
        ensure!(r.json["accepted"] == json!(n), "accepted: {}", short(&r.text));
    }
    if let Some(n) = case.duplicates {
        ensure!(r.json["duplicates"] == json!(n), "duplicates: {}", short(&r.text));
    }
    if let Some(expected) = &case.rejected {
        let got: Vec<(u64, Option<String>)> = r.json["rejected"]
            .as_array()
            .ok_or_else(|| format!("no rejected list: {}", short(&r.text)))?
            .iter()
            .map(|item| (item["index"].as_u64().unwrap_or(u64::MAX), item["request_id"].as_str().map(str::to_owned)))
            .collect();
        ensure!(&got == expected, "rejected {got:?} instead of {expected:?}: {}", short(&r.text));
        for item in r.json["rejected"].as_array().into_iter().flatten() {
            let errors = item["errors"].as_array().map_or(0, Vec::len);
            ensure!(errors > 0, "a rejected item without errors: {item}");
        }
    }

    let health = server.get("/healthz").await;
    ensure!(health.status == 200, "unhealthy afterwards: {}", health.status);
    for s in &case.present {
        ensure!(exists(server, case.model, s).await?, "{s:?} should be stored");
    }
    for s in &case.absent {
        ensure!(!exists(server, case.model, s).await?, "{s:?} should not be stored");
    }
    if let Some((version, count)) = case.listed {
        let r = server.get(&format!("/api/v1/models/{}/predictions?version={version}&limit=1000", case.model)).await;
        let n = r.json["items"].as_array().map_or(0, Vec::len);
        ensure!(n == count, "{n} predictions of version {version} listed instead of {count}: {}", short(&r.text));
    }
    Ok(())
}

/// One event may carry any number of bad members within the body limit; the answer
/// must not grow with them without bound (with the default 32 MiB limit, a 21 MB
/// event of unknown features drew a 495 MB answer).
#[tokio::test]
async fn the_answer_to_a_bad_event_is_bounded() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    let mut bad = event("many-unknown");
    let features = bad["features"].as_object_mut().expect("the event has features");
    for i in 0..50_000 {
        features.insert(format!("k{i}"), json!(0));
    }
    let body = batch(&[bad]);
    let r = server.post_raw(PREDICTIONS, Some("application/json"), None, body.clone()).await;
    r.expect_problem(422);
    assert!(
        r.error_paths().iter().any(|p| p.starts_with("$.events[0].features.k")),
        "the answer still names unknown features"
    );
    assert!(r.text.len() < body.len(), "a {} byte request drew a {} byte answer", body.len(), r.text.len());
    assert_eq!(server.get("/healthz").await.status, 200);
}

/// Clients pool connections. A request refused before its body is read leaves the
/// connection unusable, so the answer must say so (`Connection: close`) or the
/// client's next request, sent on that connection, fails at random.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_do_not_break_pooled_connections() {
    let server = TestServer::start_with(|c| c.max_body_bytes = MAX_BODY).await;
    server.create_model(&credit_model("credit")).await;
    let big = padded(batch(&[event("pool-1")]), 2 * MAX_BODY);
    let refusals = [
        (PREDICTIONS, "application/json", 413),
        (PREDICTIONS, "text/plain", 415),
        ("/api/v1/models/nope/predictions", "application/json", 404),
    ];
    let mut failures = Vec::new();
    for round in 0..150 {
        for (path, content_type, status) in refusals {
            let r =
                server.request(reqwest::Method::POST, path, &[("content-type", content_type)], Some(big.clone())).await;
            assert_eq!(r.status, status, "{}", r.text);
            // The next request goes out on a pooled connection, if one is offered.
            match server.client().get(server.url("/healthz")).send().await {
                Ok(r) if r.status() == 200 => {}
                other => failures.push(format!("round {round}, after {status}: {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{} requests failed after an early refusal, e.g. {}", failures.len(), failures[0]);
}
