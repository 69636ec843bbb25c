import Foundation

/// How far a candidate logits dump is from a reference: what `rwkv compare` prints and checks.
public struct LogitsComparison: Equatable, Sendable {
    /// max over all positions and ids of |cand − ref|.
    public let maxAbsDifference: Double
    /// √(mean of (cand − ref)²).
    public let rmsDifference: Double
    /// Mean over positions of KL(softmax(ref) ‖ softmax(cand)), in nats.
    public let meanKL: Double
    /// Fraction of positions where the argmaxes agree.
    public let top1Agreement: Double
    public let positions: Int

    public init(reference: LogitsDump, candidate: LogitsDump) throws {
        guard reference.vocabularySize == candidate.vocabularySize, reference.tokens.count == candidate.tokens.count else {
            throw ComparisonError("dumps have different shapes: reference [\(reference.tokens.count), \(reference.vocabularySize)], candidate [\(candidate.tokens.count), \(candidate.vocabularySize)]")
        }
        guard reference.tokens == candidate.tokens else {
            let t = zip(reference.tokens, candidate.tokens).enumerated().first { $0.element.0 != $0.element.1 }!.offset
            throw ComparisonError("dumps are of different tokens (first difference at position \(t))")
        }
        var maxAbs = 0.0, sumSquares = 0.0, kl = 0.0, agree = 0
        for t in 0..<reference.tokens.count {
            let p = reference.row(t), q = candidate.row(t)
            for (a, b) in zip(p, q) {
                let d = Double(b) - Double(a)
                maxAbs = max(maxAbs, abs(d))
                sumSquares += d * d
            }
            kl += Self.kl(Array(p), Array(q))
            if Self.argmax(p) == Self.argmax(q) { agree += 1 }
        }
        let positions = reference.tokens.count
        maxAbsDifference = maxAbs
        rmsDifference = (sumSquares / Double(positions * reference.vocabularySize)).squareRoot()
        meanKL = kl / Double(positions)
        top1Agreement = Double(agree) / Double(positions)
        self.positions = positions
    }

    /// KL(softmax(p) ‖ softmax(q)) in f64 with log-sum-exp.
    static func kl(_ p: [Float], _ q: [Float]) -> Double {
        func logSoftmax(_ x: [Float]) -> [Double] {
            let m = Double(x.max()!)
            let lse = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
            return x.map { Double($0) - lse }
        }
        let lp = logSoftmax(p), lq = logSoftmax(q)
        return zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
    }

    static func argmax<C: Collection<Float>>(_ x: C) -> Int {
        var best = 0, bestValue = -Float.infinity
        for (i, v) in x.enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return best
    }
}

/// Dumps that cannot be compared.
public struct ComparisonError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
