//! Writing an experiment's outputs into a directory: `results.json`, `summary.csv`, one
//! `series-N-VARIANT-seedS.csv` per run, `report.html`, and `timings.json`.
//!
//! Everything except `timings.json` is a pure function of the experiment file and its seeds.

use std::path::{Path, PathBuf};

use crate::experiment::Experiment;
use crate::metrics::results::series_csv;
use crate::metrics::{Results, Timings};
use crate::report::report_html;

/// Why the outputs could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {reason}; check that the output directory is writable")]
pub struct OutputError {
    /// The file or directory.
    pub path: String,
    /// The operating system's reason.
    pub reason: String,
}

/// The file name of a run's time series: `series-<n>-<variant>-seed<seed>.csv`, where `n`
/// is the variant's 1-based position (names are made file-safe, so `n` keeps them apart).
pub fn series_file_name(index: usize, variant: &str, seed: u64) -> String {
    let safe: String = variant.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    format!("series-{}-{safe}-seed{seed}.csv", index + 1)
}

/// Writes every output into `dir` (created if needed) and returns the paths written.
pub fn write_outputs(dir: &Path, exp: &Experiment, results: &Results, timings: &Timings) -> Result<Vec<PathBuf>, OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError { path: dir.display().to_string(), reason: e.to_string() })?;
    let mut files: Vec<(PathBuf, String)> = vec![
        (dir.join("results.json"), results.to_json()),
        (dir.join("summary.csv"), results.summary_csv()),
        (dir.join("report.html"), report_html(exp, results)),
        (dir.join("timings.json"), timings.to_json()),
    ];
    for (i, v) in results.variants.iter().enumerate() {
        for r in &v.runs {
            files.push((dir.join(series_file_name(i, &v.name, r.seed)), series_csv(&r.series)));
        }
    }
    for (path, text) in &files {
        std::fs::write(path, text).map_err(|e| OutputError { path: path.display().to_string(), reason: e.to_string() })?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::parse_experiment;
    use crate::metrics::Recorder;
    use crate::traces::scratch;
    use orrery_kernel::time::{Dur, Time};

    #[test]
    fn every_output_is_written_and_results_repeat_byte_for_byte() {
        let exp = parse_experiment(crate::experiment::tests::SMALL, "t", Path::new(".")).unwrap();
        let names: Vec<String> = exp.variants.iter().map(|v| v.name.clone()).collect();
        let runs = names.iter().flat_map(|n| exp.run.seeds.iter().map(move |&s| Recorder::new(n, s, Time(0), Dur(0)).finish(Time::from_secs(60))));
        let results = Results::new("t", &exp.run, &names, runs.collect());
        let (a, b) = (scratch("out-a"), scratch("out-b"));
        let written = write_outputs(&a, &exp, &results, &Timings::default()).unwrap();
        write_outputs(&b, &exp, &results, &Timings { total_wall_s: 9.0, ..Timings::default() }).unwrap();
        assert_eq!(written.len(), 4 + 2 * 2);
        assert!(a.join("series-2-pack-seed1.csv").exists());
        let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
        assert_eq!(read(&a, "results.json"), read(&b, "results.json"));
        assert_eq!(read(&a, "report.html"), read(&b, "report.html"));
        assert_ne!(read(&a, "timings.json"), read(&b, "timings.json"));
        assert_eq!(series_file_name(0, "pack 8x/+", 3), "series-1-pack_8x__-seed3.csv");
        let blocked = a.join("results.json").join("sub");
        assert!(write_outputs(&blocked, &exp, &results, &Timings::default()).unwrap_err().to_string().starts_with("cannot write "));
    }
}
