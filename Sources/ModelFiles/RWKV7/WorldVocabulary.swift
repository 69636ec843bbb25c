import Tensor

/// The RWKV "World" vocabulary (`rwkv_vocab_v20230424.txt`): token id → bytes, parsed from the official
/// file (`<id> <python literal> <byte length>` per line), and its llama.cpp GGUF form.
public struct WorldVocabulary: Sendable {
    public let path: String
    /// `tokens[id]` for ids 1…; index 0 (no token) is empty.
    public let tokens: [[UInt8]]

    /// One past the largest id.
    public var modelSize: Int { tokens.count }

    public init(path: String, tokens: [[UInt8]]) {
        self.path = path
        self.tokens = tokens
    }

    /// Parses the vocabulary file at `path`.
    public init(contentsOf path: String) throws {
        try self.init(file: try MappedFile.mapping(path))
    }

    /// Parses a mapped (or in-memory) vocabulary file.
    public init(file: MappedFile) throws {
        let path = file.path
        var tokens: [[UInt8]] = [[]]
        var lineNumber = 0
        for rawLine in file.bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Array(rawLine)
            if line.last == 0x0D { line.removeLast() }
            if line.isEmpty { continue }
            guard let firstSpace = line.firstIndex(of: 0x20), let lastSpace = line.lastIndex(of: 0x20), firstSpace < lastSpace,
                  let id = Int(String(decoding: line[..<firstSpace], as: UTF8.self)),
                  let length = Int(String(decoding: line[(lastSpace + 1)...], as: UTF8.self)) else {
                throw ModelFileError(path, "line \(lineNumber): expected '<id> <literal> <length>'")
            }
            guard id == tokens.count else { throw ModelFileError(path, "line \(lineNumber): id \(id) out of order (expected \(tokens.count))") }
            let bytes = try Self.parseLiteral(Array(line[(firstSpace + 1)..<lastSpace]), path: path, line: lineNumber)
            guard bytes.count == length else {
                throw ModelFileError(path, "line \(lineNumber): token is \(bytes.count) bytes but the line says \(length)")
            }
            tokens.append(bytes)
        }
        guard tokens.count > 256 else { throw ModelFileError(path, "only \(tokens.count - 1) tokens: not a World vocabulary") }
        self.init(path: path, tokens: tokens)
    }

    /// A Python `'…'`, `"…"` or `b'…'` literal with the escapes the file uses.
    static func parseLiteral(_ text: [UInt8], path: String, line: Int) throws -> [UInt8] {
        func fail(_ why: String) -> ModelFileError { ModelFileError(path, "line \(line): \(why)") }
        var body = text[...]
        let isBytes = body.first == UInt8(ascii: "b")
        if isBytes { body = body.dropFirst() }
        guard let quote = body.first, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\""), body.count >= 2, body.last == quote else {
            throw fail("token literal is not quoted")
        }
        body = body.dropFirst().dropLast()
        var out: [UInt8] = []
        var i = body.startIndex
        func hex(_ count: Int) throws -> UInt32 {
            guard body.index(i, offsetBy: count, limitedBy: body.endIndex) != nil,
                  let value = UInt32(String(decoding: body[i..<(i + count)], as: UTF8.self), radix: 16) else { throw fail("bad hex escape") }
            i += count
            return value
        }
        func append(scalar value: UInt32) throws {
            guard let scalar = Unicode.Scalar(value) else { throw fail("bad code point") }
            out += Array(String(Character(scalar)).utf8)
        }
        while i < body.endIndex {
            let c = body[i]
            i += 1
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                continue
            }
            guard i < body.endIndex else { throw fail("dangling backslash") }
            let e = body[i]
            i += 1
            switch e {
            case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"):
                let value = try hex(2)
                if isBytes { out.append(UInt8(value)) } else { try append(scalar: value) }
            case UInt8(ascii: "u") where !isBytes: try append(scalar: try hex(4))
            default: throw fail("unsupported escape \\\(Character(UnicodeScalar(e)))")
            }
        }
        return out
    }

    /// `repr(bytes)[2:-1]`: how llama.cpp's GGUF stores a World token's text.
    public static func ggufText(_ bytes: [UInt8]) -> String {
        let useDoubleQuotes = bytes.contains(UInt8(ascii: "'")) && !bytes.contains(UInt8(ascii: "\""))
        var text = ""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\\"): text += "\\\\"
            case UInt8(ascii: "'") where !useDoubleQuotes: text += "\\'"
            case 0x09: text += "\\t"
            case 0x0A: text += "\\n"
            case 0x0D: text += "\\r"
            case 0x20..<0x7F: text.append(Character(UnicodeScalar(b)))
            default:
                let digits = String(b, radix: 16)
                text += "\\x" + (digits.count == 1 ? "0" + digits : digits)
            }
        }
        return text
    }

    /// Inverse of ``ggufText(_:)`` as llama.cpp reads it: `\t \n \r \xHH`, backslash + other → that character.
    public static func bytes(fromGGUFText text: String) -> [UInt8] {
        let source = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < source.count {
            if source[i] == UInt8(ascii: "\\"), i + 1 < source.count {
                let e = source[i + 1]
                switch e {
                case UInt8(ascii: "t"): out.append(0x09); i += 2
                case UInt8(ascii: "n"): out.append(0x0A); i += 2
                case UInt8(ascii: "r"): out.append(0x0D); i += 2
                case UInt8(ascii: "x") where i + 3 < source.count:
                    if let v = UInt8(String(decoding: source[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                        out.append(v)
                        i += 4
                    } else {
                        out.append(e)
                        i += 2
                    }
                default: out.append(e); i += 2
                }
            } else {
                out.append(source[i])
                i += 1
            }
        }
        return out
    }

    /// The GGUF tokenizer keys for a model with `modelSize` embedding rows.
    public func ggufMetadata(modelSize: Int) -> [(String, GGUFValue)] {
        var texts: [GGUFValue] = [.string("<s>")]
        var types: [GGUFValue] = [.int32(3)]
        for id in 1..<modelSize {
            if id < tokens.count {
                texts.append(.string(Self.ggufText(tokens[id])))
                types.append(.int32(1))
            } else {
                texts.append(.string("[PAD\(id)]"))
                types.append(.int32(5))
            }
        }
        return [("tokenizer.ggml.model", .string("rwkv")), ("tokenizer.ggml.tokens", .array(.string, texts)),
                ("tokenizer.ggml.token_type", .array(.int32, types)), ("tokenizer.ggml.eot_token_id", .uint32(261)),
                ("tokenizer.chat_template", .string("rwkv-world"))]
    }

    /// The vocabulary stored in a GGUF file's tokenizer metadata, if any.
    public init?(gguf: GGUFFile) {
        guard case .array(let texts)? = gguf["tokenizer.ggml.tokens"], texts.elementType == .string else { return nil }
        var tokens: [[UInt8]] = [[]]
        var types: [Int] = []
        if case .array(let values)? = gguf["tokenizer.ggml.token_type"] { types = values.compactMap(\.integer) }
        for (id, value) in texts.enumerated().dropFirst() {
            if id < types.count, types[id] != 1 { break }
            tokens.append(Self.bytes(fromGGUFText: value.string ?? ""))
        }
        self.init(path: gguf.path, tokens: tokens)
    }
}
