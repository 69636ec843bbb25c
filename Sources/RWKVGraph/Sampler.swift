import Foundation
import Tensor

/// Sampling settings (defaults as rwkv7.c documents them; penalty decay as the rwkv pip pipeline).
public struct SamplerSettings: Sendable, Equatable {
    /// 0 = greedy (argmax).
    public var temperature: Float = 1.0
    /// Keep the smallest set of most likely tokens whose probability reaches this (1 = all).
    public var topP: Float = 0.7
    /// Keep at most this many tokens (0 = no limit).
    public var topK: Int = 0
    /// Subtracted from the logit of every token seen so far.
    public var presencePenalty: Float = 0.1
    /// Times the token's (decayed) count, subtracted too.
    public var frequencyPenalty: Float = 0.2
    /// Every count is multiplied by this after each token.
    public var penaltyDecay: Float = 0.996
    public var seed: UInt64 = 0
    /// Never pick token 0 (end of text), so a generation runs to its token limit or a stop string
    /// (llama.cpp's `ignore_eos`).
    public var bansEndOfText = false

    public init() {}
}

/// Picks the next token from logits: penalties, softmax, top-p, top-k, temperature, a seeded draw — in the
/// rwkv pip pipeline's order. It never sorts the whole vocabulary: candidates are selected in rounds
/// (64, 256, … of the most likely) until they cover top-p.
public struct Sampler: Sendable {
    public let settings: SamplerSettings
    private var generator: SeededGenerator
    /// Decayed occurrence counts of generated tokens.
    public private(set) var occurrence: [Int32: Float] = [:]

    public init(_ settings: SamplerSettings) {
        self.settings = settings
        generator = SeededGenerator(seed: settings.seed)
    }

    /// Applies the penalties to `logits` in place (what ``sample(_:)`` does first).
    public func applyPenalties(_ logits: inout [Float]) {
        for (token, count) in occurrence where Int(token) < logits.count {
            logits[Int(token)] -= settings.presencePenalty + count * settings.frequencyPenalty
        }
    }

    /// Samples a token id from `logits` (the raw model output).
    public mutating func sample(_ logits: [Float]) -> Int32 {
        var values = logits
        applyPenalties(&values)
        if settings.bansEndOfText, values.count > 1 { values[0] = -.infinity }
        if settings.temperature <= 0 { return argmax(values) }
        // softmax
        let maximum = values.max() ?? 0
        var total: Double = 0
        for i in values.indices {
            let e = Foundation.exp(values[i] - maximum)
            values[i] = e
            total += Double(e)
        }
        let scale = Float(1 / total)
        for i in values.indices { values[i] *= scale }
        let kept = candidates(values)
        // temperature on the kept probabilities, then a draw
        var weights = kept.map { pow(Double(values[Int($0)]), 1 / Double(settings.temperature)) }
        let sum = weights.reduce(0, +)
        for i in weights.indices { weights[i] /= sum }
        let u = Double(generator.next() >> 11) / Double(1 << 53)
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            if u < cumulative { return kept[i] }
        }
        return kept.last!
    }

    /// Records a generated token (decays the others' counts first). Whitespace and digit tokens get weight 0,
    /// as in the rwkv pipeline.
    public mutating func accept(_ token: Int32, text: [UInt8]) {
        for key in occurrence.keys { occurrence[key]! *= settings.penaltyDecay }
        let neutral = text.count == 1 && " \t0123456789".utf8.contains(text[0])
        occurrence[token, default: 0] += neutral ? 0 : 1
    }

    /// The tokens kept by top-p and top-k, most likely first: all with probability ≥ the cutoff at which
    /// the sorted cumulative probability first reaches top-p, then at most top-k of them.
    func candidates(_ probabilities: [Float]) -> [Int32] {
        let n = probabilities.count
        var take = min(n, 64)
        while true {
            let top = topIndices(probabilities, count: take)
            var cumulative: Float = 0
            var cutoffIndex: Int?
            for (i, index) in top.enumerated() {
                cumulative += probabilities[Int(index)]
                if cumulative >= settings.topP { cutoffIndex = i; break }
            }
            if cutoffIndex == nil && take < n {
                take = min(n, take * 4)
                continue
            }
            let cutoff = probabilities[Int(top[cutoffIndex ?? (top.count - 1)])]
            var kept = top.prefix { probabilities[Int($0)] >= cutoff }
            if take < n {  // ties at the cutoff beyond the selected candidates
                let selected = Set(top)
                for i in 0..<n where probabilities[i] == cutoff && !selected.contains(Int32(i)) { kept.append(Int32(i)) }
            }
            if settings.topK > 0 && kept.count > settings.topK { kept = kept.prefix(settings.topK) }
            return Array(kept)
        }
    }

    /// The `count` largest entries, largest first (ties by lower index), by selection then a small sort.
    func topIndices(_ values: [Float], count: Int) -> [Int32] {
        if count >= values.count {
            return values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.map(Int32.init)
        }
        // Threshold by quickselect on a copy of the values.
        var copy = values
        let kth = quickselectDescending(&copy, count - 1)
        var above: [Int32] = [], equal: [Int32] = []
        for (i, v) in values.enumerated() {
            if v > kth { above.append(Int32(i)) } else if v == kth { equal.append(Int32(i)) }
        }
        let chosen = above + equal.prefix(count - above.count)
        return chosen.sorted { values[Int($0)] > values[Int($1)] || (values[Int($0)] == values[Int($1)] && $0 < $1) }
    }

    /// The value that would be at `k` if `values` were sorted descending (Hoare selection).
    func quickselectDescending(_ values: inout [Float], _ k: Int) -> Float {
        var low = 0, high = values.count - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { high = j } else if k >= i { low = i } else { return values[k] }
        }
        return values[k]
    }

    func argmax(_ values: [Float]) -> Int32 {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return Int32(best)
    }
}
