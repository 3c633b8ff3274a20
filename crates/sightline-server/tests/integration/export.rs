//! Training-data export: labelled predictions as CSV, NDJSON and Parquet, streamed over
//! several pages, the same rows in every format, the schema, filters and bad queries.

use crate::support::{TestServer, credit_model};
use serde_json::{Value, json};
use sightline_tabular::ParquetRows;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

async fn bytes(server: &TestServer, path: &str) -> (u16, Option<String>, bytes::Bytes) {
    let r = server.client().get(server.url(path)).send().await.expect("request");
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, kind, r.bytes().await.expect("body"))
}

fn csv_records(body: &[u8]) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(body);
    let header = reader.headers().expect("header").iter().map(str::to_owned).collect();
    (header, reader.records().map(|r| r.expect("a record")).collect())
}

#[tokio::test]
async fn labelled_predictions_export_in_three_formats() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    // 2,500 predictions (three pages), two versions; two in three labelled.
    let mut events = Vec::new();
    let mut labels = Vec::new();
    for i in 0..2_500i64 {
        let mut features = json!({"age": 20.5 + i as f64, "member": i % 2 == 0, "note": format!("note, \"{i}\"")});
        if i % 7 != 0 {
            features["city"] = json!(["Paris", "Lyon"][(i % 2) as usize]);
        }
        events.push(json!({"request_id": format!("e{i}"), "timestamp": T0 + i * 1_000,
            "version": if i < 2_000 { "v1" } else { "v2" }, "features": features,
            "prediction": if i % 3 == 0 { "bad" } else { "good" }, "scores": {"bad": (i % 100) as f64 / 100.0}}));
        if i % 3 != 2 {
            labels.push(json!({"request_id": format!("e{i}"), "label": if i % 5 == 0 { "bad" } else { "good" },
                "timestamp": T0 + i * 1_000 + 60_000}));
        }
    }
    server.ingest("credit", &events).await.expect_status(200);
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);

    let schema = server.get("/api/v1/models/credit/export/schema").await;
    schema.expect_status(200);
    let names: Vec<&str> =
        schema.json["columns"].as_array().expect("columns").iter().filter_map(|c| c["name"].as_str()).collect();
    let expected_names = [
        "request_id",
        "timestamp",
        "version",
        "age",
        "city",
        "member",
        "note",
        "prediction",
        "score:good",
        "score:bad",
        "label",
        "label_timestamp",
    ];
    assert_eq!(names, expected_names);
    assert_eq!(schema.json["columns"][3], json!({"name": "age", "type": "number", "source": {"feature": "numeric"}}));
    assert_eq!(schema.json["columns"][5]["type"], "boolean");

    let (status, kind, csv_body) = bytes(&server, "/api/v1/models/credit/export?format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(kind.as_deref(), Some("text/csv"));
    let (header, rows) = csv_records(&csv_body);
    assert_eq!(header, expected_names);
    assert_eq!(rows.len(), labels.len());
    // Newest first; every field of one row as it was sent.
    let row = rows.iter().find(|r| &r[0] == "e1003").expect("e1003 is labelled");
    assert_eq!(&rows[0][0], "e2499");
    assert_eq!(
        row.iter().collect::<Vec<_>>(),
        [
            "e1003",
            "2026-01-01T00:16:43.000Z",
            "v1",
            "1023.5",
            "Lyon",
            "false",
            "note, \"1003\"",
            "good",
            "",
            "0.03",
            "good",
            "2026-01-01T00:17:43.000Z",
        ]
    );
    let no_city = rows.iter().find(|r| &r[0] == "e7").expect("e7 is labelled");
    assert_eq!(&no_city[4], "", "a missing value is an empty field");

    // Parquet holds the same rows, field for field.
    let (status, kind, parquet_body) = bytes(&server, "/api/v1/models/credit/export?format=parquet").await;
    assert_eq!(status, 200);
    assert_eq!(kind.as_deref(), Some("application/vnd.apache.parquet"));
    let mut parquet = ParquetRows::new("export".into(), parquet_body).expect("a Parquet file");
    assert_eq!(parquet.names(), expected_names);
    let mut record = csv::StringRecord::new();
    let mut n = 0;
    while parquet.read_record(&mut record).expect("a row") {
        assert_eq!(record, rows[n], "row {n}");
        n += 1;
    }
    assert_eq!(n, rows.len());

    // NDJSON: one typed object per row.
    let (_, kind, ndjson_body) = bytes(&server, "/api/v1/models/credit/export?format=ndjson&version=v1").await;
    assert_eq!(kind.as_deref(), Some("application/x-ndjson"));
    let objects: Vec<Value> = ndjson_body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        objects.len(),
        labels
            .iter()
            .filter(|l| l["request_id"].as_str().is_some_and(|id| id[1..].parse::<i64>().is_ok_and(|i| i < 2_000)))
            .count()
    );
    let one = objects.iter().find(|o| o["request_id"] == "e1003").expect("e1003");
    assert_eq!(one["age"], json!(1023.5));
    assert_eq!(one["member"], json!(false));
    assert_eq!(one["score:good"], Value::Null);
    assert!(objects.iter().all(|o| o["version"] == "v1"));

    // A range, with unlabelled predictions too.
    let (_, _, body) =
        bytes(&server, &format!("/api/v1/models/credit/export?from={}&to={}&unlabelled=true", T0, T0 + 10_000)).await;
    let (_, rows) = csv_records(&body);
    assert_eq!(rows.len(), 10);
    assert_eq!(&rows[7][10], "", "e2 has no label");
    // Nothing in range: the header alone, and an empty but valid Parquet file.
    let (_, _, body) = bytes(&server, &format!("/api/v1/models/credit/export?to={T0}")).await;
    assert_eq!(csv_records(&body).1.len(), 0);
    assert_eq!(csv_records(&body).0, expected_names);
    let (_, _, body) = bytes(&server, &format!("/api/v1/models/credit/export?to={T0}&format=parquet")).await;
    let mut empty = ParquetRows::new("empty".into(), body).expect("a Parquet file");
    assert!(!empty.read_record(&mut record).expect("no row"));

    for (query, status, field) in [
        ("format=xml", 400, "format"),
        ("version=v9", 404, "version"),
        ("unlabelled=yes", 400, "unlabelled"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from"),
        ("colour=red", 400, "colour"),
    ] {
        let r = server.get(&format!("/api/v1/models/credit/export?{query}")).await;
        let detail = r.expect_problem(status).to_owned();
        assert!(detail.starts_with(field), "{query}: {detail}");
    }
}
