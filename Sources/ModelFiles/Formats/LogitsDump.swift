import Tensor

/// A logits dump: a safetensors file with `tokens` (I32 [T]) and `logits` (F32 [T, V]), as `rwkv logits`
/// writes and `rwkv compare` reads.
public struct LogitsDump: Equatable, Sendable {
    public let tokens: [Int32]
    public let vocabularySize: Int
    /// Row-major [T, V].
    public let logits: [Float]

    public init(tokens: [Int32], vocabularySize: Int, logits: [Float]) {
        precondition(logits.count == tokens.count * vocabularySize, "logits must be [T, V]")
        self.tokens = tokens
        self.vocabularySize = vocabularySize
        self.logits = logits
    }

    /// Logits of position `t`.
    public func row(_ t: Int) -> ArraySlice<Float> { logits[(t * vocabularySize)..<((t + 1) * vocabularySize)] }

    /// Reads and checks a dump.
    public static func read(_ path: String) throws -> LogitsDump {
        try read(file: try MappedFile.mapping(path))
    }

    /// Reads and checks a mapped (or in-memory) dump.
    public static func read(file: MappedFile) throws -> LogitsDump {
        let path = file.path
        let tensors = Dictionary(try SafeTensorsReader.read(path: path, file: file).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        guard let tokens = tensors["tokens"], let logits = tensors["logits"] else {
            throw ModelFileError(path, "a logits dump needs tensors 'tokens' and 'logits'")
        }
        guard tokens.dtype == .i32, tokens.shape.rank == 1 else { throw ModelFileError(path, "'tokens' must be I32 [T], got \(tokens.dtype) \(tokens.shape)") }
        guard logits.dtype == .f32, logits.shape.rank == 2, logits.shape[1] == tokens.shape[0], logits.shape[0] > 0 else {
            throw ModelFileError(path, "'logits' must be F32 [T, V] with T = \(tokens.shape[0]), got \(logits.dtype) \(logits.shape.dims.reversed())")
        }
        return LogitsDump(tokens: tokens.int32s(), vocabularySize: logits.shape[0], logits: logits.floats())
    }

    /// Writes the dump (atomically).
    public func write(to path: String) throws {
        let t = tokens.count, v = vocabularySize
        var json = "{\"logits\":{\"dtype\":\"F32\",\"shape\":[\(t),\(v)],\"data_offsets\":[0,\(t * v * 4)]},"
        json += "\"tokens\":{\"dtype\":\"I32\",\"shape\":[\(t)],\"data_offsets\":[\(t * v * 4),\(t * v * 4 + t * 4)]}}"
        while (8 + json.utf8.count) % 8 != 0 { json += " " }
        var header = ByteWriter()
        header.u64(UInt64(json.utf8.count))
        header.bytes += json.utf8
        let out = try OutputFile(path: path)
        try out.write(header.bytes)
        try logits.withUnsafeBytes { try out.write($0) }
        try tokens.withUnsafeBytes { try out.write($0) }
        try out.commit()
    }
}
