import ModelFiles

/// The World tokenizer: greedy longest match over UTF-8 bytes against the vocabulary, and exact decoding
/// of ids back to bytes. Every single byte is a token, so encoding never fails.
///
/// The trie is flattened for speed: the root's 256 children are a direct table; deeper nodes keep their
/// children in byte order in one array, scanned linearly (most nodes have a handful).
public struct WorldTokenizer: Sendable {
    public let vocabulary: WorldVocabulary
    private let rootChildren: [Int32]          // byte → node (0 = none); node 0 is the root
    private let childStart: [Int32]            // per node: first entry in childBytes/childNodes
    private let childCount: [UInt16]
    private let childBytes: [UInt8]
    private let childNodes: [Int32]
    private let tokenAt: [Int32]               // per node: id of the token ending there (0 = none)

    public init(_ vocabulary: WorldVocabulary) {
        self.vocabulary = vocabulary
        // Build with dictionaries, then flatten.
        var children: [[UInt8: Int32]] = [[:]]
        var token: [Int32] = [0]
        for (id, bytes) in vocabulary.tokens.enumerated() where id > 0 && !bytes.isEmpty {
            var node = 0
            for byte in bytes {
                if let next = children[node][byte] {
                    node = Int(next)
                } else {
                    children.append([:])
                    token.append(0)
                    children[node][byte] = Int32(children.count - 1)
                    node = children.count - 1
                }
            }
            if token[node] == 0 { token[node] = Int32(id) }
        }
        var root = [Int32](repeating: 0, count: 256)
        for (byte, node) in children[0] { root[Int(byte)] = node }
        var start: [Int32] = [], count: [UInt16] = [], bytes: [UInt8] = [], nodes: [Int32] = []
        for node in children {
            start.append(Int32(bytes.count))
            count.append(UInt16(node.count))
            for (byte, child) in node.sorted(by: { $0.key < $1.key }) {
                bytes.append(byte)
                nodes.append(child)
            }
        }
        rootChildren = root
        childStart = start
        childCount = count
        childBytes = bytes
        childNodes = nodes
        tokenAt = token
    }

    /// Token ids of `bytes`, longest match first (ids 1…; never 0).
    public func encode(_ bytes: [UInt8]) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 1)
        bytes.withUnsafeBufferPointer { input in
            rootChildren.withUnsafeBufferPointer { root in
            childStart.withUnsafeBufferPointer { starts in
            childCount.withUnsafeBufferPointer { counts in
            childBytes.withUnsafeBufferPointer { edgeBytes in
            childNodes.withUnsafeBufferPointer { edgeNodes in
            tokenAt.withUnsafeBufferPointer { tokens in
                var position = 0
                let n = input.count
                while position < n {
                    var node = Int(root[Int(input[position])])
                    var best = node == 0 ? Int32(input[position]) + 1 : tokens[node]
                    var bestLength = 1
                    var i = position + 1
                    while node != 0 && i < n {
                        let byte = input[i]
                        let first = Int(starts[node]), last = first + Int(counts[node])
                        var next = 0
                        var e = first
                        while e < last {
                            if edgeBytes[e] == byte { next = Int(edgeNodes[e]); break }
                            if edgeBytes[e] > byte { break }
                            e += 1
                        }
                        node = next
                        i += 1
                        if node != 0 && tokens[node] != 0 {
                            best = tokens[node]
                            bestLength = i - position
                        }
                    }
                    if best == 0 { best = Int32(input[position]) + 1 }
                    out.append(best)
                    position += bestLength
                }
            }}}}}}
        }
        return out
    }

    /// The bytes of `ids` (ids outside the vocabulary give nothing).
    public func decode(_ ids: [Int32]) -> [UInt8] {
        ids.flatMap { bytes(of: $0) }
    }

    /// The bytes of one token.
    public func bytes(of id: Int32) -> [UInt8] {
        id > 0 && Int(id) < vocabulary.tokens.count ? vocabulary.tokens[Int(id)] : []
    }
}

/// Turns a stream of bytes into text without splitting a UTF-8 sequence: complete characters come out
/// as soon as they are complete; an invalid byte becomes U+FFFD.
public struct UTF8StreamDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Text completed by `bytes`.
    public mutating func push(_ bytes: [UInt8]) -> String {
        pending += bytes
        var end = pending.count
        // Hold back an incomplete sequence at the end (at most 3 bytes).
        var back = 1
        while back <= min(3, pending.count) {
            let byte = pending[pending.count - back]
            if byte & 0xC0 != 0x80 {
                let needed = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                if needed > back { end = pending.count - back }
                break
            }
            back += 1
        }
        let text = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end)
        return text
    }

    /// Whatever is left (an incomplete sequence becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }
}
