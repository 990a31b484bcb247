//! Parquet in and out: the text and id columns are read by name, every other column
//! survives with its type and values.

use std::fs::File;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::util::*;

/// The rows of `news.jsonl` as a Parquet file with three more columns: `url`
/// (string), `year` (int32) and `score` (float64, null on every third row).
fn write_parquet(env: &Env, name: &str) -> usize {
    let rows = env.json_lines("news.jsonl");
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let texts: Vec<String> = rows
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    let urls: Vec<String> = ids
        .iter()
        .map(|i| format!("https://example.org/{i}"))
        .collect();
    let years: Vec<i32> = (0..rows.len()).map(|i| 2020 + (i % 5) as i32).collect();
    let scores: Vec<Option<f64>> = (0..rows.len())
        .map(|i| (!i.is_multiple_of(3)).then_some(i as f64 / 10.0))
        .collect();
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("url", Arc::new(StringArray::from(urls)) as ArrayRef),
        ("text", Arc::new(StringArray::from(texts)) as ArrayRef),
        ("year", Arc::new(Int32Array::from(years)) as ArrayRef),
        ("score", Arc::new(Float64Array::from(scores)) as ArrayRef),
    ])
    .unwrap();
    let file = File::create(env.path(name)).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    rows.len()
}

fn read_parquet(env: &Env, name: &str) -> Vec<RecordBatch> {
    let file = File::open(env.path(name)).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn strings(batch: &RecordBatch, col: &str) -> Vec<String> {
    let a = batch.column_by_name(col).unwrap();
    let a = a.as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

#[test]
fn clean_reads_and_writes_parquet_keeping_every_column() {
    let env = Env::new();
    env.synth_news(400, 41);
    let n = write_parquet(&env, "news.parquet");
    // The same corpus as JSON Lines and as Parquet gives the same decisions.
    ok(&env.run(&[
        "clean",
        "news.jsonl",
        "-o",
        "ref.jsonl",
        "--min-docs",
        "3",
        "-q",
    ]));
    ok(&env.run(&[
        "clean",
        "news.parquet",
        "-o",
        "out.parquet",
        "--min-docs",
        "3",
        "--report",
        "r.json",
        "-q",
    ]));
    let reference = env.json_lines("ref.jsonl");
    assert!(reference.len() < n && reference.len() > n / 3);
    let batches = read_parquet(&env, "out.parquet");
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "url", "text", "year", "score"]);
    assert_eq!(
        schema.field_with_name("year").unwrap().data_type(),
        &arrow_schema::DataType::Int32
    );
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    for b in &batches {
        ids.extend(strings(b, "id"));
        texts.extend(strings(b, "text"));
        let urls = strings(b, "url");
        let years = b.column_by_name("year").unwrap();
        let years = years.as_any().downcast_ref::<Int32Array>().unwrap();
        let scores = b.column_by_name("score").unwrap();
        let scores = scores.as_any().downcast_ref::<Float64Array>().unwrap();
        for (i, id) in strings(b, "id").iter().enumerate() {
            // Other columns stay with their row.
            assert_eq!(urls[i], format!("https://example.org/{id}"));
            let row: usize = id
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap();
            assert_eq!(years.value(i), 2020 + (row % 5) as i32, "{id}");
            assert_eq!(scores.is_null(i), row.is_multiple_of(3), "{id}");
        }
    }
    let want_ids: Vec<&str> = reference
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let want_texts: Vec<&str> = reference
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want_ids);
    assert_eq!(texts, want_texts, "stripped the same lines");
    let r = env.json("r.json");
    check_accounting(&r);
    assert_eq!(r["inputs"][0]["parquet"], true);
    assert_eq!(r["documents"]["read"], n);
}

#[test]
fn parquet_in_json_lines_out_and_annotated_parquet() {
    let env = Env::new();
    env.synth_news(200, 42);
    write_parquet(&env, "news.parquet");
    ok(&env.run(&["dedup", "news.parquet", "-o", "out.jsonl", "-q"]));
    let out = env.json_lines("out.jsonl");
    assert!(!out.is_empty());
    for r in &out {
        assert!(
            r["url"]
                .as_str()
                .unwrap()
                .starts_with("https://example.org/")
        );
        assert!(r["year"].as_i64().unwrap() >= 2020);
        assert!(r.get("score").is_some(), "nulls are kept as null: {r}");
    }
    // Annotated Parquet output gains a `dupstrip` column.
    ok(&env.run(&[
        "dedup",
        "news.parquet",
        "-o",
        "ann.parquet",
        "--mode",
        "annotate",
        "-q",
    ]));
    let batches = read_parquet(&env, "ann.parquet");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 200);
    assert!(batches[0].schema().field_with_name("dupstrip").is_ok());
    // A bad text column is named with the file and row.
    fails_with(
        &env.run(&[
            "dedup",
            "news.parquet",
            "-o",
            "x.jsonl",
            "--text-field",
            "year",
        ]),
        "news.parquet:1: field \"year\" is a number, not a string",
    );
}
