import ArgumentParser
import Benchmarks
import Foundation
import ModelFiles
import RWKVGraph
import Tensor

extension BenchCommand {
    /// `-m MODEL` or `--shape SIZE`: every type × thread count, pp and tg.
    func runModels() throws {
        let threadCounts = threads.values
        var loaded: RWKV7Weights?
        var shapeParameters: RWKV7Hyperparameters?
        let typeList: [QuantizationPlan?]
        if let model {
            loaded = try RWKV7Weights(try Checkpoint.open(model))
            typeList = types?.map { Optional($0) } ?? [nil]
        } else {
            shapeParameters = RandomModel.shape(named: shape!)!
            typeList = (types ?? [QuantizationPlan(.f32)]).map { Optional($0) }
        }
        let name = model.map { stem($0) } ?? "RWKV-7 \(shape!.uppercased())"
        // Refuse what will not fit before allocating anything.
        let available = SystemMemory.availableBytes()
        for type in typeList {
            let bytes: Int
            if let shapeParameters { bytes = RandomModel.bytes(shapeParameters, plan: type ?? QuantizationPlan(.f32)) } else {
                bytes = loaded!.tensors.values.reduce(0) { $0 + $1.byteCount }
            }
            if let available, bytes + (1 << 30) > available {
                throw ExecutionError("\(name) at \(type.map { "\($0)" } ?? "its own type") needs about \(formatBytes(bytes)) of weights; only \(formatBytes(available)) of memory is available")
            }
        }
        // The read bandwidth is measured around every decode repetition (the host's changes from second to
        // second), with a buffer of its own, released before peak memory is counted again.
        var probes: [Int: [Double]] = [:]
        let bytes = Int(bandwidthGib * Double(1 << 30))
        let probe: (Int) -> Double = { t in
            let gigabytesPerSecond = ReadBandwidth(bytes: bytes).measure(threads: t)
            probes[t, default: []].append(gigabytesPerSecond)
            return gigabytesPerSecond
        }

        var results: [ModelBenchmark.Result] = []
        for type in typeList {
            func weights() throws -> RWKV7Weights {
                if let shapeParameters { return try RandomModel.make(shapeParameters, plan: type ?? QuantizationPlan(.f32)) }
                return try type.map { try loaded!.converted(toRunAt: $0) } ?? loaded!
            }
            let typeName = type?.description ?? (loaded?.tensors["token_embd.weight"]?.dtype ?? .f32).description
            // The weights are a temporary: only the model (with its repacked copies) stays alive.
            let benchmark = try ModelBenchmark(weights: try weights(), modelName: name, typeName: typeName)
            for t in threadCounts {
                var rows: [ModelBenchmark.Result] = []
                for depth in depths.values {
                    rows += try benchmark.run(threads: t, prompt: prompt, generate: generate, repetitions: repetitions,
                                              batches: batches.values, depth: depth, bandwidthProbe: probe)
                }
                results += rows
                if !json && !csv { for row in rows { printErr("  \(row.test) \(typeName) t=\(t): \(formatted(row.mean, 2)) t/s") } }
            }
        }
        // Per thread count, the median of the probes (what the header and the JSON summary give).
        let readBandwidth = probes.mapValues(\.median)
        if json {
            let report = ModelBenchReport(cpu: cpuName(), isa: "\(KernelLevel.current)", date: ISO8601DateFormatter().string(from: Date()),
                                          readBandwidth: threadCounts.compactMap { t in readBandwidth[t].map { .init(threads: t, gigabytesPerSecond: $0) } },
                                          results: results)
            try printJSON(report)
        } else if csv {
            print("model,size_bytes,params,type,threads,test,tps_mean,tps_stddev,gbps,read_gbps,pct_read,peak_rss_bytes")
            for r in results {
                let optional = [r.gigabytesPerSecond, r.readBandwidth, r.percentOfBandwidth].map { $0.map { formatted($0, 3) } ?? "" }
                print(([r.model, "\(r.sizeBytes)", "\(r.parameters)", r.type, "\(r.threads)", r.test, formatted(r.mean, 3), formatted(r.stddev, 3)] + optional + ["\(r.peakResidentBytes)"]).joined(separator: ","))
            }
        } else {
            print("CPU: \(cpuName()); kernels: \(KernelLevel.current)" + (readBandwidth.isEmpty ? "" : "; read bandwidth " + threadCounts.compactMap { t in readBandwidth[t].map { "\(formatted($0, 1)) GB/s at \(t)t" } }.joined(separator: ", ")))
            var table = MarkdownTable(["model", "size", "params", "type", "threads", "test", "t/s", "GB/s", "% read", "peak RSS"], rightAligned: [1, 2, 4, 6, 7, 8, 9])
            for r in results {
                table.append([r.model, formatBytes(r.sizeBytes), formatted(Double(r.parameters) / 1e6, 2) + " M", r.type, "\(r.threads)", r.test,
                              formatted(r.mean, 2) + " ± " + formatted(r.stddev, 2), r.gigabytesPerSecond.map { formatted($0, 1) } ?? "",
                              r.percentOfBandwidth.map { formatted($0, 1) } ?? "", formatBytes(r.peakResidentBytes)])
            }
            print(table.render())
            if let smallest = results.filter({ $0.test.hasPrefix("tg") }).map({ $0.gigabytesPerSecond! * 1e9 / $0.mean * Double($0.sequences) }).min(), smallest < 64e6 {
                print("note: this model (\(formatBytes(Int(smallest))) read per token) fits in the CPU caches, so % of the read bandwidth can exceed 100; the roofline applies to models larger than the caches.")
            }
        }
    }
}

/// `bench -m/--shape --json` output.
struct ModelBenchReport: Codable {
    let cpu: String
    let isa: String
    let date: String
    let readBandwidth: [KernelReport.Bandwidth]
    let results: [ModelBenchmark.Result]
}
