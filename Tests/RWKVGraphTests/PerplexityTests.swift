import Foundation
import ModelFiles
import RWKVGraph
import Testing

/// `PerplexityMeasurement` against a direct computation, and its statistics on known values.
@Suite struct PerplexityTests {
    static let text = Array(("Once upon a time, there was a little fox named Max. Max liked to run in the forest. One day, Max found a red ball. "
        + "\"What is this?\" Max asked. Then Lily the bird came and said, \"It is a ball. We can play with it.\" They played until the sun went down.")
        .utf8).map(Int32.init)

    static func session() throws -> RWKV7Session {
        try RWKV7Session(model: try RWKV7Model(try RWKV7Weights(try Checkpoint.open(Fixtures.projectModel))))
    }

    /// The perplexity of every chunk's second half, computed here from the whole chunk's logits in the
    /// plainest way, equals the measurement's (which runs the first half without logits).
    @Test func perplexityMatchesADirectComputation() throws {
        let session = try Self.session()
        var measurement = try PerplexityMeasurement(context: 64)
        let chunks = try measurement.chunks(of: Self.text)
        #expect(chunks.count == Self.text.count / 64 && chunks.count >= 3)
        var nlls: [Double] = []
        for chunk in chunks {
            try measurement.add(chunk: chunk, logits: try session.scoredLogits(chunk, firstScored: 32))
            session.reset()
            let all = try session.process(Array(chunk), allLogits: true)
            let tokens = Array(chunk)
            for i in 32..<63 {
                let row = all[i].map(Double.init)
                let m = row.max()!
                let logSum = m + log(row.reduce(0) { $0 + exp($1 - m) })
                nlls.append(logSum - row[Int(tokens[i + 1])])
            }
        }
        let mean = nlls.reduce(0, +) / Double(nlls.count)
        let variance = nlls.reduce(0) { $0 + $1 * $1 } / Double(nlls.count) - mean * mean
        let (ppl, error) = measurement.perplexity
        #expect(measurement.nll.count == chunks.count * 31)
        #expect(abs(ppl - exp(mean)) <= 1e-4 * exp(mean), "\(ppl) vs \(exp(mean))")
        #expect(abs(error - exp(mean) * (variance / Double(nlls.count - 1)).squareRoot()) <= 1e-3 * error)
        #expect(ppl > 1 && ppl < 16)   // far below the 256 of a uniform guess: the model knows this kind of text
    }

    /// A model against itself: no divergence, the same top-1 everywhere, Δp 0; against Q4_0, a small one.
    @Test func divergenceFromABase() throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.projectModel))
        let base = try RWKV7Session(model: try RWKV7Model(weights))
        let quantized = try RWKV7Session(model: try RWKV7Model(try weights.converted(toRunAt: .q4_0)))
        var same = try PerplexityMeasurement(context: 64), q4 = try PerplexityMeasurement(context: 64)
        for chunk in try same.chunks(of: Self.text) {
            let reference = try base.scoredLogits(chunk, firstScored: 32)
            try same.add(chunk: chunk, logits: reference, base: reference)
            try q4.add(chunk: chunk, logits: try quantized.scoredLogits(chunk, firstScored: 32), base: reference)
        }
        let s = try #require(same.report.base), q = try #require(q4.report.base)
        #expect(s.meanKL == 0 && s.maxKL == 0 && s.sameTop == 1 && s.rmsDeltaP == 0 && s.perplexity == same.report.perplexity)
        #expect(q.meanKL > 0 && q.meanKL < 0.01 && q.sameTop > 0.95 && q.rmsDeltaP > 0 && q.rmsDeltaP < 0.05)
        #expect(q.medianKL <= q.kl99 && q.kl99 <= q.kl999 && q.kl999 <= q.maxKL)
    }

    @Test func statisticsOfKnownValues() throws {
        var moments = RunningMoments()
        for v in [1.0, 2, 3, 4] { moments.add(v) }
        #expect(moments.mean == 2.5 && moments.rootMeanSquare == (30.0 / 4).squareRoot())
        #expect(abs(moments.standardError - (1.25 / 3).squareRoot()) < 1e-12)   // σ² = 7.5 − 6.25
        var measurement = try PerplexityMeasurement(context: 4)
        // Uniform logits over 4 tokens: every NLL is log 4, the perplexity 4 with no error.
        try measurement.add(chunk: [0, 1, 2, 3], logits: [[0, 0, 0, 0], [0, 0, 0, 0]])
        #expect(abs(measurement.perplexity.value - 4) < 1e-12 && measurement.perplexity.error == 0 && measurement.nll.count == 1)
    }

    @Test func badInputsAreClearErrors() throws {
        #expect(throws: PerplexityError("the context must be at least 4 tokens (half of it is scored)")) { try PerplexityMeasurement(context: 3) }
        let measurement = try PerplexityMeasurement(context: 512)
        #expect(throws: PerplexityError("the text has 100 tokens, fewer than one chunk of 512 (lower --ctx or give more text)")) {
            try measurement.chunks(of: Array(repeating: 1, count: 100))
        }
        var small = try PerplexityMeasurement(context: 4)
        #expect(throws: PerplexityError.self) { try small.add(chunk: [0, 1, 2, 3], logits: [[0, 0]]) }
        #expect(throws: PerplexityError("token id 9 is outside the vocabulary (0..<4)")) {
            try small.add(chunk: [0, 1, 2, 9], logits: [[0, 0, 0, 0], [0, 0, 0, 0]])
        }
    }
}
