/// The JSON header of a safetensors file, read without building a JSON object tree: each tensor entry
/// (name, dtype, shape, data offsets) is handed to the caller as it is read; `__metadata__` and unknown
/// fields are checked for well-formedness and skipped. Memory stays within a small multiple of the
/// header's size, and nesting is walked with a heap stack, never by recursion.
enum SafeTensorsHeader {
    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    /// Parses `json`, calling `body` with every tensor entry in file order.
    static func parse(_ json: UnsafeRawBufferPointer, path: String, _ body: (Entry) throws -> Void) throws {
        var scanner = JSONScanner(bytes: json, path: path)
        var names = Set<String>()
        var count = 0
        try scanner.expect(UInt8(ascii: "{"), "the header object")
        if !scanner.consume(UInt8(ascii: "}")) {
            repeat {
                let name = try scanner.string("a tensor name")
                try scanner.expect(UInt8(ascii: ":"), "':' after '\(name)'")
                guard names.insert(name).inserted else { throw ModelFileError(path, "safetensors header names '\(name)' twice") }
                if name == "__metadata__" {
                    try scanner.skipValue()
                } else {
                    count += 1
                    try Checkpoint.checkTensorCount(count, path: path)
                    try body(try scanner.entry(name))
                }
            } while scanner.consume(UInt8(ascii: ","))
            try scanner.expect(UInt8(ascii: "}"), "'}' or ',' in the header object")
        }
        try scanner.expectEnd()
    }
}

/// A cursor over JSON text that throws a ``ModelFileError`` naming the byte offset for anything malformed.
private struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    func fail(_ problem: String) -> ModelFileError {
        ModelFileError(path, "safetensors header offset \(offset): \(problem)")
    }

    mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
    }

    /// The next byte after whitespace (nil at the end).
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    /// Consumes `byte` if it comes next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        offset += 1
        return true
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws {
        guard consume(byte) else { throw fail("expected \(what)") }
    }

    /// Only whitespace may follow the header object.
    mutating func expectEnd() throws {
        guard peek() == nil else { throw fail("unexpected bytes after the header object") }
    }

    /// A JSON string, unescaped.
    mutating func string(_ what: String) throws -> String {
        guard consume(UInt8(ascii: "\"")) else { throw fail("expected \(what) (a string)") }
        var out: [UInt8] = []
        while true {
            guard offset < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                try unescape(into: &out)
            case 0..<0x20:
                throw fail("control character in a string")
            default:
                out.append(byte)
            }
        }
    }

    /// Skips a JSON string, checking its escapes and UTF-8 without keeping it.
    mutating func skipString() throws {
        guard consume(UInt8(ascii: "\"")) else { throw fail("expected a string") }
        let start = offset
        var scratch: [UInt8] = []
        while true {
            guard offset < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[offset]
            offset += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                scratch.removeAll(keepingCapacity: true)
                try unescape(into: &scratch)
            } else if byte < 0x20 {
                throw fail("control character in a string")
            }
        }
        guard isWellFormedUTF8(UnsafeRawBufferPointer(rebasing: bytes[start..<(offset - 1)])) else {
            throw fail("string is not valid UTF-8")
        }
    }

    /// The escape after a backslash.
    private mutating func unescape(into out: inout [UInt8]) throws {
        guard offset < bytes.count else { throw fail("unterminated escape") }
        let e = bytes[offset]
        offset += 1
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                guard offset + 2 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                    throw fail("unpaired surrogate in a \\u escape")
                }
                offset += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in a \\u escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let value = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
            out += Array(String(Character(value)).utf8)
        default:
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count,
              let value = UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 4)]), as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        offset += 4
        return value
    }

    /// A non-negative integer written as plain digits (no sign, fraction or exponent).
    mutating func integer(_ what: String) throws -> Int {
        _ = peek()
        let start = offset
        var value = 0
        while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(bytes[offset] - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw fail("\(what) is too large") }
            value = sum
            offset += 1
        }
        let digits = offset - start
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")),
              offset == bytes.count || ![UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[offset]) else {
            offset = start
            throw fail("\(what) must be a non-negative integer")
        }
        return value
    }

    /// A JSON array of non-negative integers.
    mutating func integers(_ what: String, limit: Int) throws -> [Int] {
        try expect(UInt8(ascii: "["), "\(what) (an array)")
        var values: [Int] = []
        if consume(UInt8(ascii: "]")) { return values }
        repeat {
            guard values.count < limit else { throw fail("\(what) has more than \(limit) values") }
            values.append(try integer(what))
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"), "']' or ',' in \(what)")
        return values
    }

    /// A tensor entry `{"dtype": …, "shape": […], "data_offsets": [begin, end]}` (other fields skipped).
    mutating func entry(_ name: String) throws -> SafeTensorsHeader.Entry {
        try expect(UInt8(ascii: "{"), "an object for tensor '\(name)'")
        var dtype: String?, shape: [Int]?, offsets: [Int]?
        if !consume(UInt8(ascii: "}")) {
            repeat {
                let key = try string("a field name of '\(name)'")
                try expect(UInt8(ascii: ":"), "':' after '\(key)'")
                switch key {
                case "dtype" where dtype == nil: dtype = try string("the dtype of '\(name)'")
                case "shape" where shape == nil: shape = try integers("the shape of '\(name)'", limit: 8)
                case "data_offsets" where offsets == nil: offsets = try integers("the data_offsets of '\(name)'", limit: 2)
                case "dtype", "shape", "data_offsets": throw fail("tensor '\(name)' gives '\(key)' twice")
                default: try skipValue()
                }
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"), "'}' or ',' in the entry of '\(name)'")
        }
        guard let dtype, let shape, let offsets, offsets.count == 2 else {
            throw ModelFileError(path, "safetensors entry '\(name)' lacks dtype, shape or data_offsets [begin, end]")
        }
        return .init(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// Skips any JSON value, walking nested arrays and objects with a heap stack of their closing brackets.
    mutating func skipValue() throws {
        var closers: [UInt8] = []
        while true {
            // One value.
            switch peek() {
            case UInt8(ascii: "\"")?:
                try skipString()
            case UInt8(ascii: "{")?:
                offset += 1
                if !consume(UInt8(ascii: "}")) {
                    closers.append(UInt8(ascii: "}"))
                    try skipString()
                    try expect(UInt8(ascii: ":"), "':' after a key")
                    continue
                }
            case UInt8(ascii: "[")?:
                offset += 1
                if !consume(UInt8(ascii: "]")) {
                    closers.append(UInt8(ascii: "]"))
                    continue
                }
            case UInt8(ascii: "t")?: try literal("true")
            case UInt8(ascii: "f")?: try literal("false")
            case UInt8(ascii: "n")?: try literal("null")
            case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
                try skipNumber()
            default:
                throw fail("expected a JSON value")
            }
            // Close what this value completes; stop at a comma that starts the next one.
            while let closer = closers.last {
                if consume(UInt8(ascii: ",")) {
                    if closer == UInt8(ascii: "}") {
                        try skipString()
                        try expect(UInt8(ascii: ":"), "':' after a key")
                    }
                    break
                }
                guard consume(closer) else { throw fail("expected ',' or '\(Character(Unicode.Scalar(closer)))'") }
                closers.removeLast()
            }
            if closers.isEmpty { return }
        }
    }

    private mutating func literal(_ word: String) throws {
        let utf8 = Array(word.utf8)
        guard offset + utf8.count <= bytes.count, zip(utf8, bytes[offset...]).allSatisfy({ $0 == $1 }) else {
            throw fail("expected a JSON value")
        }
        offset += utf8.count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func skipNumber() throws {
        func digits() -> Int {
            let start = offset
            while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) { offset += 1 }
            return offset - start
        }
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let start = offset
        let whole = digits()
        guard whole > 0, whole == 1 || bytes[start] != UInt8(ascii: "0") else { throw fail("malformed number") }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw fail("malformed number") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw fail("malformed number") }
        }
    }
}

/// Whether `bytes` are well-formed UTF-8, checked in place (no String is made).
func isWellFormedUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    while i < bytes.count {
        let lead = bytes[i]
        if lead < 0x80 {
            i += 1
            continue
        }
        // Sequence length and the range of the second byte (which excludes overlongs and surrogates).
        let length: Int, second: ClosedRange<UInt8>
        switch lead {
        case 0xC2...0xDF: (length, second) = (2, 0x80...0xBF)
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, 0x80...0xBF)
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, second) = (4, 0x80...0xBF)
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: return false
        }
        guard i + length <= bytes.count, second.contains(bytes[i + 1]) else { return false }
        for j in 2..<length where bytes[i + j] & 0xC0 != 0x80 { return false }
        i += length
    }
    return true
}
