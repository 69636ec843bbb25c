import ArgumentParser
import Benchmarks
import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// `rwkv bench`: throughput measurements.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark models (llama-bench style pp/tg), kernels, or the executor.",
        discussion: """
            With -m MODEL or --shape 0.1b|0.4b|1.5b|2.9b|7.2b|13.3b (random weights; -de adds DeepEmbed): pp<N> (prefill of -p tokens from the zero state, last \
            logits only) and tg<N> (-n single-token decode steps with full logits), after a warm-up, -r times, for \
            every type × thread count; decode also shows GB/s of weights and % of the read bandwidth measured in \
            the same run. -b 1,2,4,8 adds, per batch size B > 1, pp<N> b<B> and tg<N> b<B>: B prompts prefilled \
            together and B sequences decoded together, aggregate t/s (llama-batched-bench's S_PP and S_TG). --kernels measures the read bandwidth (a streaming read of --bandwidth-gib GiB) and, per \
            dtype and thread count, the GB/s of a matvec of the 0.1B head shape (65536 × 768). --executor measures \
            barrier latency and a small graph's time. -m MODEL --load measures load time (file opened → session ready) \
            and the first token of a --first-token-prompt-token prompt, with the file cached (warm) and dropped from \
            the page cache first (cold, posix_fadvise). Every report names the kernels' ISA level (RWKV_ISA picks one).
            """
    )

    @Option(name: .shortAndLong, help: "Model file to benchmark.")
    var model: String?

    @Option(help: "Official model size with random weights: 0.1b, 0.4b, 1.5b, 2.9b, 7.2b or 13.3b (a -de suffix adds DeepEmbed, -dea RWKV-7b DeepEmbedAttention).")
    var shape: String?

    @Option(name: .customShort("p"), help: "Prompt tokens for the pp test (0 = skip).")
    var prompt = 512

    @Option(name: .customShort("n"), help: "Generated tokens for the tg test (0 = skip).")
    var generate = 128

    @Option(name: .customShort("b"), help: "Batch sizes, comma-separated: B > 1 prefills B prompts and decodes B sequences together (aggregate t/s).")
    var batches = CommaList<Int>([1])

    @Option(name: .customShort("d"), help: "Context depths, comma-separated (llama-bench's -d): each test runs after this many tokens were prefilled (untimed), named `… @ dN`.")
    var depths = CommaList<Int>([0])

    @Option(name: .customShort("r"), help: "Repetitions.")
    var repetitions = 3

    @Flag(help: "Print CSV instead of a table.")
    var csv = false

    @Flag(help: "Matvec GB/s per dtype beside the measured read bandwidth.")
    var kernels = false

    @Flag(help: "Barrier latency and small-graph time of the worker team.")
    var executor = false

    @Flag(help: "With -m: load time (file opened → session ready) and time to the first token, warm and cold.")
    var load = false

    @Option(help: "Prompt tokens of --load's first token.")
    var firstTokenPrompt = 64

    @Option(name: [.short, .customLong("threads")], help: "Thread counts, comma-separated.")
    var threads = CommaList<Int>([1, 2])

    @Option(name: .customLong("type"), help: "Weight types (file types as `quantize` takes them), comma-separated. Default: f32, f16, q8_0, q4_0 for --kernels, f32 for --shape, the file's own for -m.",
            transform: parsePlans)
    var types: [QuantizationPlan]?

    @Option(help: "Size of the bandwidth test buffer in GiB.")
    var bandwidthGib = 1.0

    @Option(help: "Rows and columns of the --kernels matrix.")
    var matrix = "65536x768"

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        let modes = [kernels, executor, model != nil || shape != nil].filter { $0 }.count
        guard modes == 1, !(model != nil && shape != nil) else { throw ValidationError("choose one of -m MODEL, --shape SIZE, --kernels or --executor") }
        guard !load || model != nil else { throw ValidationError("--load needs -m MODEL (a file to load)") }
        guard (1...4096).contains(firstTokenPrompt) else { throw ValidationError("--first-token-prompt must be 1…4096") }
        if let shape, RandomModel.shape(named: shape) == nil { throw ValidationError("--shape must be one of \(RandomModel.shapeNames.joined(separator: ", "))") }
        guard prompt >= 0, generate >= 0, prompt + generate > 0, prompt <= 65536, generate <= 65536 else { throw ValidationError("-p and -n must be 0…65536, not both 0") }
        guard batches.values.allSatisfy({ (1...256).contains($0) }) else { throw ValidationError("batch sizes must be 1…256") }
        guard depths.values.allSatisfy({ (0...1_000_000).contains($0) }) else { throw ValidationError("depths must be 0…1000000") }
        guard (1...100).contains(repetitions) else { throw ValidationError("-r must be 1…100") }
        guard threads.values.allSatisfy({ (1...1024).contains($0) }) else { throw ValidationError("thread counts must be 1…1024") }
        guard bandwidthGib > 0, bandwidthGib <= 64 else { throw ValidationError("--bandwidth-gib must be in (0, 64]") }
        guard parsedMatrix != nil else { throw ValidationError("--matrix must be ROWSxCOLUMNS with columns a multiple of 32") }
    }

    var parsedMatrix: (rows: Int, columns: Int)? {
        let parts = matrix.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0, parts[1] % 32 == 0 else { return nil }
        return (parts[0], parts[1])
    }

    func run() throws {
        if kernels { try runKernels() }
        if executor { try runExecutor() }
        if load { return try reportingErrors { try runLoad() } }
        if model != nil || shape != nil { try reportingErrors { try runModels() } }
    }

    private func runKernels() throws {
        let types = self.types?.map(\.mainRecipe.type) ?? [.f32, .f16, .q8_0, .q4_0]
        let (rows, columns) = parsedMatrix!
        let bandwidth = ReadBandwidth(bytes: Int(bandwidthGib * Double(1 << 30)))
        var bandwidthByThreads: [Int: Double] = [:]
        for t in threads.values { bandwidthByThreads[t] = bandwidth.measure(threads: t) }
        var results: [MatvecBenchmark.Row] = []
        for type in types {
            // In the layout a model runs it with (Q8_0/Q4_0 interleaved by 8 rows where the row count allows).
            let weight = try MatvecBenchmark.randomWeight(type, columns: columns, rows: rows, seed: 42).interleavedForMatmul()
            for t in threads.values {
                let seconds = try MatvecBenchmark.time(weight: weight, threads: t)
                let rate = Double(weight.byteCount) / seconds / 1e9
                let read = bandwidthByThreads[t]!
                results.append(MatvecBenchmark.Row(dtype: type.description, threads: t, rows: rows, columns: columns,
                                     weightBytes: weight.byteCount, seconds: seconds, gigabytesPerSecond: rate,
                                     readBandwidth: read, percentOfBandwidth: rate / read * 100))
            }
        }
        if json {
            let report = KernelReport(cpu: cpuName(), isa: "\(KernelLevel.current)", bandwidthBytes: bandwidth.bytes,
                                      readBandwidth: threads.values.map { .init(threads: $0, gigabytesPerSecond: bandwidthByThreads[$0]!) },
                                      matvec: results)
            try printJSON(report)
            return
        }
        print("CPU: \(cpuName()); kernels: \(KernelLevel.current); read bandwidth from a \(formatted(Double(bandwidth.bytes) / Double(1 << 30), 2)) GiB streaming read")
        var table = MarkdownTable(["dtype", "threads", "matvec", "weight MB", "µs", "GB/s", "read GB/s", "% of read"], rightAligned: [1, 3, 4, 5, 6, 7])
        for r in results {
            table.append([r.dtype, "\(r.threads)", "\(r.rows)×\(r.columns)", formatted(Double(r.weightBytes) / 1e6, 1),
                          formatted(r.seconds * 1e6, 0), formatted(r.gigabytesPerSecond, 1), formatted(r.readBandwidth, 1),
                          formatted(r.percentOfBandwidth, 1)])
        }
        print(table.render())
    }

    private func runExecutor() throws {
        var table = MarkdownTable(["threads", "barrier ns/phase", "small graph µs"], rightAligned: [0, 1, 2])
        var rows: [ExecutorReport.Row] = []
        for t in threads.values {
            let barrier = try ExecutorBenchmark.barrierNanoseconds(threads: t)
            let small = try ExecutorBenchmark.smallGraphMicroseconds(threads: t)
            rows.append(.init(threads: t, barrierNanoseconds: barrier, smallGraphMicroseconds: small))
            table.append(["\(t)", formatted(barrier, 0), formatted(small, 1)])
        }
        if json {
            try printJSON(ExecutorReport(cpu: cpuName(), isa: "\(KernelLevel.current)", rows: rows))
        } else {
            print("CPU: \(cpuName()); kernels: \(KernelLevel.current)")
            print(table.render())
        }
    }
}

/// `bench --kernels --json` output.
struct KernelReport: Codable {
    struct Bandwidth: Codable {
        let threads: Int
        let gigabytesPerSecond: Double
    }

    let cpu: String
    let isa: String
    let bandwidthBytes: Int
    let readBandwidth: [Bandwidth]
    let matvec: [MatvecBenchmark.Row]
}

/// `bench --executor --json` output.
struct ExecutorReport: Codable {
    struct Row: Codable {
        let threads: Int
        let barrierNanoseconds: Double
        let smallGraphMicroseconds: Double
    }

    let cpu: String
    let isa: String
    let rows: [Row]
}

/// The CPU model from /proc/cpuinfo, or "unknown".
func cpuName() -> String {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
    return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
}
