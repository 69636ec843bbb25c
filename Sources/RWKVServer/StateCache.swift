import RWKVGraph

/// States at the ends of recent prompts and replies, keyed by the tokens that produced them, so that a
/// conversation's next turn (which resends the whole history) prefills only its new tokens.
///
/// Bounded in bytes; the least recently used entry goes first. A lookup returns the longest entry whose
/// tokens are a proper prefix of the prompt (at least one token must stay to be prefilled: its logits pick
/// the first reply token).
struct StateCache {
    struct Entry {
        let tokens: [Int32]
        let state: RWKV7State
        var lastUse: UInt64
    }

    let capacityBytes: Int
    private(set) var entries: [Entry] = []
    private var clock: UInt64 = 0

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    /// Bytes one entry holds (its state's floats, an RWKV-7b context included; the token keys are small beside them).
    static func bytes(of entry: Entry) -> Int { (entry.state.values.count + entry.state.context.count) * 4 + entry.tokens.count * 4 }

    var bytes: Int { entries.reduce(0) { $0 + Self.bytes(of: $1) } }

    /// The longest cached prefix of `prompt` shorter than it: its token count and state.
    mutating func lookup(_ prompt: [Int32]) -> (tokens: Int, state: RWKV7State)? {
        var best: Int?
        for (i, entry) in entries.enumerated()
        where entry.tokens.count < prompt.count && entry.tokens.count > (best.map { entries[$0].tokens.count } ?? 0)
            && prompt.starts(with: entry.tokens) {
            best = i
        }
        guard let best else { return nil }
        clock += 1
        entries[best].lastUse = clock
        return (entries[best].tokens.count, entries[best].state)
    }

    /// Keeps `state` as the state after `tokens` (replacing an entry with the same tokens), then drops the
    /// least recently used entries beyond the capacity.
    mutating func insert(_ tokens: [Int32], _ state: RWKV7State) {
        guard !tokens.isEmpty, capacityBytes > 0 else { return }
        clock += 1
        entries.removeAll { $0.tokens == tokens }
        let entry = Entry(tokens: tokens, state: state, lastUse: clock)
        guard Self.bytes(of: entry) <= capacityBytes else { return }
        entries.append(entry)
        var total = bytes
        while total > capacityBytes, let oldest = entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse }) {
            total -= Self.bytes(of: entries[oldest])
            entries.remove(at: oldest)
        }
    }
}
