import ModelFiles

/// The World tokenizer: greedy longest match over UTF-8 bytes against the vocabulary (a byte trie), and
/// exact decoding of ids back to bytes. Every single byte is a token, so encoding never fails.
public struct WorldTokenizer: Sendable {
    public let vocabulary: WorldVocabulary
    /// Trie nodes: child node per byte, and the token id ending at the node (0 = none).
    private var children: [[UInt8: Int32]] = [[:]]
    private var tokenAt: [Int32] = [0]

    public init(_ vocabulary: WorldVocabulary) {
        self.vocabulary = vocabulary
        for (id, bytes) in vocabulary.tokens.enumerated() where id > 0 && !bytes.isEmpty {
            var node = 0
            for byte in bytes {
                if let next = children[node][byte] {
                    node = Int(next)
                } else {
                    children.append([:])
                    tokenAt.append(0)
                    children[node][byte] = Int32(children.count - 1)
                    node = children.count - 1
                }
            }
            if tokenAt[node] == 0 { tokenAt[node] = Int32(id) }
        }
    }

    /// Token ids of `bytes`, longest match first.
    public func encode(_ bytes: [UInt8]) -> [Int32] {
        var out: [Int32] = []
        var position = 0
        while position < bytes.count {
            var node = 0, best: Int32 = 0, bestLength = 0, i = position
            while i < bytes.count, let next = children[node][bytes[i]] {
                node = Int(next)
                i += 1
                if tokenAt[node] != 0 {
                    best = tokenAt[node]
                    bestLength = i - position
                }
            }
            if bestLength == 0 { // only possible with a vocabulary lacking single bytes
                best = Int32(bytes[position]) + 1
                bestLength = 1
            }
            out.append(best)
            position += bestLength
        }
        return out
    }

    /// The bytes of `ids` (unknown ids give nothing).
    public func decode(_ ids: [Int32]) -> [UInt8] {
        ids.flatMap { id in id > 0 && Int(id) < vocabulary.tokens.count ? vocabulary.tokens[Int(id)] : [] }
    }
}
