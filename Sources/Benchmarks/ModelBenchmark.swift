import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// llama-bench-style model benchmarks: `pp` (prefill of N tokens from the zero state, last logits only)
/// and `tg` (N single-token decode steps with full logits), after a warm-up, repeated; `pp` and `tg` of B
/// sequences together (llama-batched-bench's S_PP and S_TG: aggregate tokens per second).
public struct ModelBenchmark {
    /// One measured (model, type, threads, test).
    public struct Result: Codable, Equatable, Sendable {
        public let model: String
        public let sizeBytes: Int
        public let parameters: Int
        public let type: String
        public let threads: Int
        public let test: String
        /// Sequences decoded together in each step: B for `tg… b<B>`, otherwise 1.
        public let sequences: Int
        /// Tokens per second of each repetition.
        public let samples: [Double]
        public let mean: Double
        public let stddev: Double
        /// Decode only: weight bytes read per step × steps/s (from the mean t/s; a batched step reads them once
        /// for its B tokens).
        public let gigabytesPerSecond: Double?
        /// Decode only: the mean of the row's read-bandwidth probes, GB/s.
        public let readBandwidth: Double?
        /// Decode only: the median over repetitions of each one's GB/s as a % of the probes around it.
        public let percentOfBandwidth: Double?
        /// Peak resident memory of the process during this test, bytes.
        public let peakResidentBytes: Int
    }

    /// The model as it runs (matmul weights repacked); the file-level weights are not kept, so a benchmark
    /// holds one copy of each weight, as inference does.
    public let model: RWKV7Model
    public let modelName: String
    public let typeName: String
    /// Bytes of all weights.
    public let sizeBytes: Int
    /// Bytes read from memory per decoded token: every weight except the token tables (the embedding and
    /// DeepEmbed's `s_emb`), of which one row each.
    public let bytesPerToken: Int

    /// Prepares `weights`, which are consumed: pass a temporary to hold one copy of the model while preparing.
    public init(weights: consuming RWKV7Weights, modelName: String, typeName: String) throws {
        sizeBytes = weights.tensors.values.reduce(0) { $0 + $1.byteCount }
        bytesPerToken = weights.bytesPerToken
        self.modelName = modelName
        self.typeName = typeName
        model = try RWKV7Model(consume weights)
    }

    /// Runs `pp<prompt>` (if > 0) and `tg<generate>` (if > 0) on `threads` threads, `repetitions` times each.
    /// `bandwidthProbe(threads)` (GB/s), when given, is called before the decode runs and after each one: a
    /// repetition's roofline is the mean of the probes just before and just after it, and the decode row's
    /// % of the read bandwidth is the median over repetitions of each one's GB/s against its own roofline, so
    /// each comparison spans the same few seconds of a shared machine whose bandwidth changes from second to
    /// second. Peak memory is counted between probes, never including a probe's buffer.
    /// `batches`: batch sizes; each B > 1 adds a row `pp<prompt> b<B>` of B prompts prefilled together and a row
    /// `tg<generate> b<B>` of B sequences decoded together (B × `prompt` and B × `generate` tokens). `depth` > 0 (llama-bench's `-d`): each single-sequence test starts from the state
    /// after `depth` prefilled tokens (untimed) and is named `… @ d<depth>`; what it measures is an RWKV-7b
    /// model's attention over a context that long (a plain RWKV-7's state does not grow).
    public func run(threads: Int, prompt: Int, generate: Int, repetitions: Int, batches: [Int] = [1], depth: Int = 0,
                    bandwidthProbe: ((Int) -> Double)? = nil) throws -> [Result] {
        PeakMemory.reset()
        let contextLimit = max(RWKV7Session.defaultContextLimit, depth + max(prompt, generate))
        let session = try RWKV7Session(model: model, threads: threads, contextLimit: contextLimit)
        let vocabulary = Int32(model.hyperparameters.vocabularySize)
        var generator = SeededGenerator(seed: 1)
        let promptTokens = (0..<max(prompt, 1)).map { _ in Int32(truncatingIfNeeded: generator.next() % UInt64(vocabulary)) }
        let depthTokens = (0..<depth).map { _ in Int32(truncatingIfNeeded: generator.next() % UInt64(vocabulary)) }
        let suffix = depth > 0 ? " @ d\(depth)" : ""
        let clock = ContinuousClock()
        var results: [Result] = []
        // The state after the depth's tokens, restored before each timed run.
        var atDepth: RWKV7State?
        if depth > 0 {
            _ = try session.process(depthTokens, chunk: 512)
            atDepth = session.state
        }
        func start() throws {
            if let atDepth { try session.restore(atDepth) } else { session.reset() }
        }

        func measure(_ test: String, tokens: Int, tokensPerStep: Int = 1, prepare: () throws -> Void = {},
                     _ body: () throws -> Void) throws {
            let isDecode = test.hasPrefix("tg")
            let probe = isDecode ? bandwidthProbe : nil
            var probes: [Double] = probe.map { [$0(threads)] } ?? []
            PeakMemory.reset()
            try prepare()
            try body() // warm-up: builds and plans the graphs, touches the weights
            var samples: [Double] = []
            var peak = 0
            for _ in 0..<repetitions {
                try prepare()
                let start = clock.now
                try body()
                samples.append(Double(tokens) / (clock.now - start).seconds)
                peak = max(peak, PeakMemory.current())
                if let probe {
                    probes.append(probe(threads))
                    PeakMemory.reset()
                }
            }
            let mean = samples.reduce(0, +) / Double(samples.count)
            let stddev = samples.count > 1 ? (samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count - 1)).squareRoot() : 0
            let bytes = Double(bytesPerToken) / Double(tokensPerStep)
            let rate = isDecode ? bytes * mean / 1e9 : nil
            let readBandwidth = probes.isEmpty ? nil : probes.reduce(0, +) / Double(probes.count)
            let percent: Double? = probes.isEmpty ? nil : samples.indices.map { i in
                bytes * samples[i] / 1e9 / ((probes[i] + probes[i + 1]) / 2) * 100
            }.median
            results.append(Result(model: modelName, sizeBytes: sizeBytes, parameters: model.hyperparameters.parameterCount,
                                  type: typeName, threads: threads, test: test, sequences: tokensPerStep, samples: samples, mean: mean, stddev: stddev,
                                  gigabytesPerSecond: rate, readBandwidth: readBandwidth, percentOfBandwidth: percent,
                                  peakResidentBytes: peak))
        }
        if prompt > 0 {
            try measure("pp\(prompt)\(suffix)", tokens: prompt, prepare: start) {
                _ = try session.process(promptTokens, chunk: prompt)
            }
        }
        if generate > 0 && batches.contains(1) {
            try measure("tg\(generate)\(suffix)", tokens: generate, prepare: start) {
                var token = promptTokens[0]
                for _ in 0..<generate {
                    let logits = try session.step(token)
                    token = logits.withUnsafeBytes { Int32(truncatingIfNeeded: Int($0.load(as: UInt32.self) % UInt32(vocabulary))) }
                }
            }
        }
        for b in batches where b > 1 && depth == 0 {
            let batch = try RWKV7Batch(model: model, capacity: b, threads: threads)
            if prompt > 0 {
                // B different prompts (the same tokens, rotated), prefilled together from the zero state.
                let prompts = (0..<b).map { s in (0..<prompt).map { promptTokens[($0 + s) % prompt] } }
                try measure("pp\(prompt) b\(b)", tokens: prompt * b, tokensPerStep: b) {
                    for slot in 0..<b { batch.resetState(slot: slot) }
                    _ = try batch.prefill(firstSlot: 0, prompts)
                }
            }
            guard generate > 0 else { continue }
            try measure("tg\(generate) b\(b)", tokens: generate * b, tokensPerStep: b) {
                for slot in 0..<b { batch.resetState(slot: slot) }
                var tokens = Array(promptTokens.prefix(b)) + Array(repeating: promptTokens[0], count: max(0, b - promptTokens.count))
                for _ in 0..<generate {
                    let logits = try batch.decode(tokens)
                    logits.withUnsafeBytes { raw in
                        for s in 0..<b {
                            let bits = raw.load(fromByteOffset: s * Int(vocabulary) * 4, as: UInt32.self)
                            tokens[s] = Int32(truncatingIfNeeded: Int(bits % UInt32(vocabulary)))
                        }
                    }
                }
            }
        }
        return results
    }
}

/// The process's peak resident set (Linux `VmHWM`), resettable between configurations.
public enum PeakMemory {
    /// Resets the peak to the current resident size (`/proc/self/clear_refs` ← 5).
    public static func reset() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// Peak resident bytes since the last reset (0 where unavailable).
    public static func current() -> Int {
        SystemMemory.bytes(of: "VmHWM", in: "/proc/self/status") ?? 0
    }
}
