//! Columnar: Parquet in and out.
//!
//! A Parquet input is turned into JSON Lines as it is opened: one object per row
//! with every column (arrow-json), spooled to a temporary file and then read like any
//! JSON Lines input. `--text-field` and `--id-field` name columns, and a record's
//! "line" is its row number. An output whose name ends in `.parquet` is written as
//! JSON Lines to a temporary file and converted when the run commits: the columns
//! keep the types they had in the Parquet input (its schema is the hint), and columns
//! the run adds (the `dupstrip` annotation) get the type their JSON values infer.
//! Every other column survives, with its values.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Rows per batch when converting.
const BATCH_ROWS: usize = 8192;

/// The first bytes of every Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// True when `path` names a Parquet file by its extension.
pub fn has_parquet_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Write every row of the Parquet file `path` to `out` as a JSON object per line
/// (nulls written as `null`). Returns the file's schema.
pub fn parquet_to_jsonl(path: &Path, out: &mut dyn Write) -> io::Result<SchemaRef> {
    let file = File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(other)?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(other)?;
    let mut writer =
        arrow_json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow_json::writer::LineDelimited>(BufWriter::with_capacity(1 << 20, out));
    for batch in reader {
        writer.write(&batch.map_err(other)?).map_err(other)?;
    }
    writer.finish().map_err(other)?;
    writer.into_inner().flush()?;
    Ok(schema)
}

/// The schema of the output: the fields of the JSON Lines in `jsonl`, typed as in
/// `hint` where the hint has them.
fn output_schema(jsonl: &mut BufReader<File>, hint: Option<&Schema>) -> io::Result<Schema> {
    let (inferred, rows) =
        arrow_json::reader::infer_json_schema_from_seekable(&mut *jsonl, None).map_err(other)?;
    if rows == 0 {
        // Nothing to infer from: the input's columns, or a lone text column.
        return Ok(hint
            .cloned()
            .unwrap_or_else(|| Schema::new(vec![Field::new("text", DataType::Utf8, true)])));
    }
    let Some(hint) = hint else {
        return Ok(inferred);
    };
    let mut fields: Vec<Arc<Field>> = hint.fields().iter().cloned().collect();
    for f in inferred.fields() {
        if hint.field_with_name(f.name()).is_err() {
            fields.push(f.clone());
        }
    }
    Ok(Schema::new(fields))
}

/// Convert the JSON Lines file `jsonl` to Parquet in `dest` (zstd-compressed).
pub fn jsonl_to_parquet(jsonl: File, dest: File, hint: Option<&Schema>) -> io::Result<File> {
    let mut reader = BufReader::with_capacity(1 << 20, jsonl);
    reader.rewind()?;
    let schema = Arc::new(output_schema(&mut reader, hint)?);
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, dest),
        schema.clone(),
        Some(props),
    )
    .map_err(other)?;
    let rows = arrow_json::ReaderBuilder::new(schema)
        .with_batch_size(BATCH_ROWS)
        .build(reader)
        .map_err(other)?;
    for batch in rows {
        writer.write(&batch.map_err(other)?).map_err(other)?;
    }
    let inner = writer.into_inner().map_err(other)?;
    inner.into_inner().map_err(|e| e.into_error())
}
