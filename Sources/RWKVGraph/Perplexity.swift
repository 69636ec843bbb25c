import Foundation

/// Perplexity as llama-perplexity measures it: the text's tokens cut into non-overlapping chunks of
/// `context` tokens, each run from a fresh state, and every token of a chunk's second half scored (position
/// i predicts token i + 1 for i in context/2 ..< context − 1), so each scored token has at least half a chunk
/// before it. PPL = exp(mean NLL), its error PPL · σ(NLL)/√(n − 1). Against a base model's logits at the same
/// positions: KL(base ‖ model) per token, top-1 agreement and Δp (the change in the probability of the right
/// token), as llama-perplexity's `--kl-divergence`.
public struct PerplexityMeasurement: Sendable {
    /// Tokens per chunk.
    public let context: Int
    public private(set) var chunks = 0
    public private(set) var nll = RunningMoments()
    public private(set) var baseNLL = RunningMoments()
    /// Per scored token, when a base was given.
    public private(set) var kl: [Double] = []
    public private(set) var deltaP: [Double] = []
    public private(set) var sameTop = 0

    public init(context: Int) throws {
        guard context >= 4 else { throw PerplexityError("the context must be at least 4 tokens (half of it is scored)") }
        self.context = context
    }

    /// The first position scored in a chunk.
    public var firstScored: Int { context / 2 }

    /// The chunks of `tokens` (at most `limit`).
    public func chunks(of tokens: [Int32], limit: Int? = nil) throws -> [ArraySlice<Int32>] {
        let available = tokens.count / context
        guard available > 0 else {
            throw PerplexityError("the text has \(tokens.count) tokens, fewer than one chunk of \(context) (lower --ctx or give more text)")
        }
        return (0..<min(available, limit ?? available)).map { tokens[($0 * context)..<(($0 + 1) * context)] }
    }

    /// Adds a chunk: `logits[j]` are the model's logits at position firstScored + j (context − firstScored
    /// rows; the last predicts nothing and is ignored), `base` the base's at the same positions.
    public mutating func add(chunk: ArraySlice<Int32>, logits: [[Float]], base: [[Float]]? = nil) throws {
        let tokens = Array(chunk)
        guard tokens.count == context, logits.count == context - firstScored, base.map({ $0.count == logits.count }) ?? true else {
            throw PerplexityError("a chunk needs \(context - firstScored) rows of logits")
        }
        for j in 0..<(logits.count - 1) {
            let next = Int(tokens[firstScored + j + 1])
            let logP = Self.logSoftmax(logits[j])
            guard next >= 0, next < logP.count else { throw PerplexityError("token id \(next) is outside the vocabulary (0..<\(logP.count))") }
            nll.add(-logP[next])
            if let base {
                let logB = Self.logSoftmax(base[j])
                guard logB.count == logP.count else { throw PerplexityError("the base has \(logB.count) logits per token, the model \(logP.count)") }
                baseNLL.add(-logB[next])
                var divergence = 0.0
                for i in logB.indices { divergence += exp(logB[i]) * (logB[i] - logP[i]) }
                kl.append(max(divergence, 0))
                deltaP.append(exp(logP[next]) - exp(logB[next]))
                if Self.argmax(logP) == Self.argmax(logB) { sameTop += 1 }
            }
        }
        chunks += 1
    }

    /// exp(mean NLL) and its error.
    public var perplexity: (value: Double, error: Double) { nll.perplexity }

    /// The summary: perplexity, and against a base the KL divergence, top-1 agreement and Δp.
    public var report: PerplexityReport {
        var report = PerplexityReport(context: context, chunks: chunks, scoredTokens: nll.count,
                                      perplexity: perplexity.value, perplexityError: perplexity.error)
        if !kl.isEmpty {
            let sortedKL = kl.sorted(), sortedDelta = deltaP.sorted()
            let klMoments = RunningMoments(kl), deltaMoments = RunningMoments(deltaP)
            let top = Double(sameTop) / Double(kl.count)
            report.base = PerplexityReport.Base(
                perplexity: baseNLL.perplexity.value, perplexityError: baseNLL.perplexity.error,
                meanKL: klMoments.mean, meanKLError: klMoments.standardError,
                medianKL: Self.quantile(sortedKL, 0.5), kl99: Self.quantile(sortedKL, 0.99), kl999: Self.quantile(sortedKL, 0.999),
                maxKL: sortedKL.last!, sameTop: top, sameTopError: (top * (1 - top) / Double(max(kl.count - 1, 1))).squareRoot(),
                meanDeltaP: deltaMoments.mean, meanDeltaPError: deltaMoments.standardError, rmsDeltaP: deltaMoments.rootMeanSquare,
                deltaP001: Self.quantile(sortedDelta, 0.001), medianDeltaP: Self.quantile(sortedDelta, 0.5), deltaP999: Self.quantile(sortedDelta, 0.999))
        }
        return report
    }

    /// log softmax in f64 (log-sum-exp).
    public static func logSoftmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max() ?? 0)
        var sum = 0.0
        for v in x { sum += exp(Double(v) - m) }
        let lse = m + log(sum)
        return x.map { Double($0) - lse }
    }

    static func argmax(_ x: [Double]) -> Int { x.indices.max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) } ?? 0 }

    /// The q-quantile of sorted values, interpolated linearly between neighbours.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? 0 }
        let position = q * Double(sorted.count - 1), low = Int(position.rounded(.down))
        let high = min(low + 1, sorted.count - 1), fraction = position - Double(low)
        return sorted[low] + (sorted[high] - sorted[low]) * fraction
    }
}

/// Count, sum and sum of squares of a series.
public struct RunningMoments: Sendable {
    public private(set) var count = 0
    public private(set) var sum = 0.0, sumOfSquares = 0.0

    public init() {}
    init(_ values: [Double]) { values.forEach { add($0) } }

    public mutating func add(_ value: Double) {
        count += 1
        sum += value
        sumOfSquares += value * value
    }

    public var mean: Double { count > 0 ? sum / Double(count) : 0 }
    public var rootMeanSquare: Double { count > 0 ? (sumOfSquares / Double(count)).squareRoot() : 0 }
    /// σ/√(n − 1), as llama-perplexity estimates its errors.
    public var standardError: Double {
        guard count > 1 else { return 0 }
        let variance = sumOfSquares / Double(count) - mean * mean
        return variance > 0 ? (variance / Double(count - 1)).squareRoot() : 0
    }

    /// exp(mean) of negative log-likelihoods, and its error exp(mean) · standardError.
    public var perplexity: (value: Double, error: Double) {
        let value = exp(mean)
        return (value, value * standardError)
    }
}

/// What `rwkv perplexity` prints (and writes with `--json`).
public struct PerplexityReport: Codable, Sendable, Equatable {
    public var context: Int
    public var chunks: Int
    public var scoredTokens: Int
    public var perplexity: Double
    public var perplexityError: Double
    public var base: Base?

    /// Against a base model or dump.
    public struct Base: Codable, Sendable, Equatable {
        public var perplexity, perplexityError: Double
        public var meanKL, meanKLError, medianKL, kl99, kl999, maxKL: Double
        /// Fraction of scored tokens whose most likely next token is the base's.
        public var sameTop, sameTopError: Double
        public var meanDeltaP, meanDeltaPError, rmsDeltaP, deltaP001, medianDeltaP, deltaP999: Double
    }
}

/// A perplexity run that cannot be done.
public struct PerplexityError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension RWKV7Session {
    /// The logits of positions `firstScored ..< chunk.count` of a chunk run from a fresh state (the first
    /// positions are run without logits).
    public func scoredLogits(_ chunk: ArraySlice<Int32>, firstScored: Int) throws -> [[Float]] {
        reset()
        let tokens = Array(chunk)
        if firstScored > 0 { _ = try process(Array(tokens[..<firstScored])) }
        return try process(Array(tokens[firstScored...]), allLogits: true)
    }
}
