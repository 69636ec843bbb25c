/// A bounds-checked little-endian cursor over a file's bytes. Every read checks the remaining length
/// first and throws a ``ModelFileError`` naming the file and the offset; nothing reads past the end.
struct ByteReader {
    let path: String
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(path: String, bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.path = path
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    func error(_ problem: String) -> ModelFileError { ModelFileError(path, problem) }

    /// Throws unless `count` more bytes exist; `what` names them in the error.
    func require(_ count: Int, _ what: String) throws {
        guard count >= 0, count <= remaining else {
            throw error("truncated: \(what) at offset \(offset) needs \(count) bytes, \(remaining) left")
        }
    }

    mutating func skip(_ count: Int, _ what: String) throws {
        try require(count, what)
        offset += count
    }

    mutating func seek(to position: Int, _ what: String) throws {
        guard position >= 0, position <= bytes.count else { throw error("\(what) offset \(position) is outside the file (\(bytes.count) bytes)") }
        offset = position
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        try require(MemoryLayout<T>.size, what)
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func readFloat(_ what: String) throws -> Float { Float(bitPattern: try read(UInt32.self, what)) }
    mutating func readDouble(_ what: String) throws -> Double { Double(bitPattern: try read(UInt64.self, what)) }

    /// `count` raw bytes.
    mutating func readBytes(_ count: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try require(count, what)
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// `count` bytes that must be valid UTF-8.
    mutating func readString(_ count: Int, _ what: String) throws -> String {
        let raw = try readBytes(count, what)
        guard let text = String(validating: raw, as: UTF8.self) else { throw error("\(what) at offset \(offset - count) is not valid UTF-8") }
        return text
    }
}
