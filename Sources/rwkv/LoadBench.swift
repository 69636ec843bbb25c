import Benchmarks
import Foundation
import ModelFiles
import RWKVGraph
import Tensor

extension BenchCommand {
    /// `-m MODEL --load`: load and first-token times, warm and cold, per type × thread count.
    func runLoad() throws {
        let path = model!
        let typeList: [QuantizationPlan?] = types?.map { Optional($0) } ?? [nil]
        var rows: [LoadReport.Row] = []
        for type in typeList {
            for t in threads.values {
                for cold in [false, true] {
                    // A warm load reads a cached file: load it once untimed so the cache holds it.
                    if !cold { _ = try LoadBenchmark.measure(path: path, plan: type, threads: t, promptTokens: firstTokenPrompt, cold: false) }
                    var samples: [LoadBenchmark.Sample] = []
                    for _ in 0..<repetitions {
                        samples.append(try LoadBenchmark.measure(path: path, plan: type, threads: t, promptTokens: firstTokenPrompt, cold: cold))
                    }
                    let row = LoadReport.Row(type: type?.description ?? "file's own", threads: t, cache: cold ? "cold" : "warm",
                                             cachedFraction: samples.map(\.cachedFraction).median,
                                             loadSeconds: samples.map(\.loadSeconds).median,
                                             firstTokenSeconds: samples.map(\.firstTokenSeconds).median,
                                             totalSeconds: samples.map { $0.loadSeconds + $0.firstTokenSeconds }.median,
                                             peakResidentBytes: samples.map(\.peakResidentBytes).max() ?? 0, samples: samples)
                    rows.append(row)
                    if !json && !csv { printErr("  load \(row.cache) \(row.type) t=\(t): \(formatted(row.totalSeconds * 1e3, 0)) ms") }
                }
            }
        }
        let report = LoadReport(cpu: cpuName(), isa: "\(KernelLevel.current)", model: stem(path), fileBytes: try MappedFile(path: path).byteCount,
                                promptTokens: firstTokenPrompt, rows: rows)
        if json { return try printJSON(report) }
        if csv {
            print("model,type,threads,cache,cached_fraction,load_ms,first_token_ms,total_ms,peak_rss_bytes")
            for r in rows {
                print([report.model, r.type, "\(r.threads)", r.cache, formatted(r.cachedFraction, 3), formatted(r.loadSeconds * 1e3, 1),
                       formatted(r.firstTokenSeconds * 1e3, 1), formatted(r.totalSeconds * 1e3, 1), "\(r.peakResidentBytes)"].joined(separator: ","))
            }
            return
        }
        print("CPU: \(cpuName()); kernels: \(KernelLevel.current); \(report.model), \(formatBytes(report.fileBytes)); medians of \(repetitions)")
        var table = MarkdownTable(["type", "threads", "page cache", "cached at start", "load ms", "first token ms (p\(firstTokenPrompt))", "total ms", "peak RSS"],
                                  rightAligned: [1, 3, 4, 5, 6, 7])
        for r in rows {
            table.append([r.type, "\(r.threads)", r.cache, formatted(r.cachedFraction * 100, 0) + " %", formatted(r.loadSeconds * 1e3, 0),
                          formatted(r.firstTokenSeconds * 1e3, 0), formatted(r.totalSeconds * 1e3, 0), formatBytes(r.peakResidentBytes)])
        }
        print(table.render())
        if rows.contains(where: { $0.cache == "cold" && $0.cachedFraction > 0.05 }) {
            print("note: the kernel kept part of the file cached after posix_fadvise(DONTNEED) (another process maps it?): those cold rows are partly warm.")
        }
    }
}

/// `bench -m MODEL --load --json` output.
struct LoadReport: Codable {
    struct Row: Codable {
        let type: String
        let threads: Int
        let cache: String
        let cachedFraction: Double
        let loadSeconds: Double
        let firstTokenSeconds: Double
        let totalSeconds: Double
        let peakResidentBytes: Int
        let samples: [LoadBenchmark.Sample]
    }

    let cpu: String
    let isa: String
    let model: String
    let fileBytes: Int
    let promptTokens: Int
    let rows: [Row]
}
