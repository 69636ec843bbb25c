import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// How long a model file takes to become useful: load (file opened → weights packed → session ready) and
/// the first token (a prompt prefilled from the zero state to its logits, the graph planned on the way), with
/// the file's pages in the page cache (warm) or dropped from it first (cold).
public enum LoadBenchmark {
    /// One measured load.
    public struct Sample: Codable, Equatable, Sendable {
        /// Fraction of the file in the page cache when the load began (≈ 0 for a cold load that worked).
        public let cachedFraction: Double
        public let loadSeconds: Double
        public let firstTokenSeconds: Double
        /// Peak resident memory from the start of the load to the first token, bytes.
        public let peakResidentBytes: Int
    }

    /// Loads `path` (converted to `plan` when given, as `--type` does), opens a session on `threads` threads
    /// and prefills `promptTokens` seeded token ids; with `cold`, the file's cached pages are dropped first.
    public static func measure(path: String, plan: QuantizationPlan?, threads: Int, promptTokens: Int, cold: Bool) throws -> Sample {
        let cachedFraction = cold ? try PageCache.drop(path) : try PageCache.cachedFraction(path)
        PeakMemory.reset()
        let clock = ContinuousClock()
        let start = clock.now
        let weights = try RWKV7Weights(try Checkpoint.open(path))
        let model = try RWKV7Model(try plan.map { try weights.converted(toRunAt: $0) } ?? weights)
        let session = try RWKV7Session(model: model, threads: threads)
        let loaded = clock.now
        var generator = SeededGenerator(seed: 7)
        let vocabulary = UInt64(model.hyperparameters.vocabularySize)
        let prompt = (0..<promptTokens).map { _ in Int32(truncatingIfNeeded: generator.next() % vocabulary) }
        let logits = try session.process(prompt, chunk: promptTokens)
        let done = clock.now
        guard logits.last?.count == Int(vocabulary) else { throw ExecutionError("\(path): the first token's logits are missing") }
        return Sample(cachedFraction: cachedFraction, loadSeconds: (loaded - start).seconds,
                      firstTokenSeconds: (done - loaded).seconds, peakResidentBytes: PeakMemory.current())
    }
}
