import Tensor

/// One tensor record of a GGUF file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: Shape
    /// Offset relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int
}

/// A GGUF (v2/v3) file, memory-mapped and validated as ggml validates it; tensors are zero-copy views.
public final class GGUFFile: @unchecked Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF"
    public static let defaultAlignment = 32

    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensorInfos: [GGUFTensorInfo]
    public let alignment: Int
    public let dataStart: Int
    public let file: MappedFile
    private let index: [String: Int]

    /// Limits copied from ggml's reader.
    static let maxStringBytes = 1 << 30, maxArrayElements = 1 << 30, maxNameBytes = 63, maxNesting = 8

    public convenience init(path: String) throws {
        try self.init(file: try MappedFile.mapping(path))
    }

    /// Parses a mapped (or in-memory) file.
    public init(file: MappedFile) throws {
        path = file.path
        self.file = file
        var reader = ByteReader(path: path, bytes: file.bytes)
        guard file.byteCount >= 4, try reader.read(UInt32.self, "magic") == Self.magic else {
            throw ModelFileError(path, "not a GGUF file (bad magic)")
        }
        version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw ModelFileError(path, "unsupported GGUF version \(version) (need 2 or 3)") }
        let tensorCount = try reader.read(UInt64.self, "tensor count")
        let kvCount = try reader.read(UInt64.self, "metadata count")
        // Each KV needs ≥ 13 bytes and each tensor info ≥ 28: counts beyond that cannot be real.
        guard kvCount <= UInt64(reader.remaining / 13), tensorCount <= UInt64(reader.remaining / 28) else {
            throw ModelFileError(path, "truncated or corrupt: \(kvCount) metadata entries and \(tensorCount) tensors cannot fit in \(file.byteCount) bytes")
        }
        try Checkpoint.checkTensorCount(Int(tensorCount), path: path)
        var metadata: [(String, GGUFValue)] = []
        var keys = Set<String>()
        var budget = MemoryBudget()
        for _ in 0..<Int(kvCount) {
            let key = try Self.readString(&reader, "metadata key")
            guard !key.isEmpty else { throw ModelFileError(path, "empty metadata key") }
            guard keys.insert(key).inserted else { throw ModelFileError(path, "duplicate metadata key '\(key)'") }
            let rawType = try reader.read(UInt32.self, "type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else { throw ModelFileError(path, "metadata '\(key)' has unknown value type \(rawType)") }
            try budget.charge(key.utf8.count + 64, reader)
            metadata.append((key, try Self.readValue(&reader, type, key: key, budget: &budget, depth: 0)))
        }
        self.metadata = metadata

        var alignment = Self.defaultAlignment
        if let entry = metadata.first(where: { $0.0 == "general.alignment" }) {
            guard case .uint32(let value) = entry.1, value > 0, value & (value - 1) == 0 else {
                throw ModelFileError(path, "general.alignment must be a power-of-two UINT32, got \(entry.1.summary)")
            }
            alignment = Int(value)
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        var expectedOffset = 0
        for _ in 0..<Int(tensorCount) {
            let name = try Self.readString(&reader, "tensor name")
            guard name.utf8.count <= Self.maxNameBytes else { throw ModelFileError(path, "tensor name '\(name.prefix(80))' is longer than 63 bytes") }
            guard index[name] == nil else { throw ModelFileError(path, "duplicate tensor '\(name)'") }
            let nDims = try reader.read(UInt32.self, "dimension count of '\(name)'")
            guard (1...4).contains(nDims) else { throw ModelFileError(path, "tensor '\(name)' has \(nDims) dimensions (need 1…4)") }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let ne = try reader.read(UInt64.self, "dimension \(d) of '\(name)'")
                guard ne <= UInt64(Int64.max) else { throw ModelFileError(path, "tensor '\(name)' dimension \(d) is \(ne)") }
                dims.append(Int(ne))
            }
            guard let count = Shape.checkedCount(dims) else { throw ModelFileError(path, "tensor '\(name)' shape \(dims) overflows") }
            let typeID = try reader.read(UInt32.self, "type of '\(name)'")
            guard let dtype = DType(ggufTypeID: typeID) else {
                throw ModelFileError(path, "tensor '\(name)' has ggml type \(typeID) (\(Self.typeName(typeID))), which is not supported (\(DType.readable.map(\.description).joined(separator: ", ")))")
            }
            guard dims[0] % dtype.blockSize == 0 else {
                throw ModelFileError(path, "tensor '\(name)' row length \(dims[0]) is not a multiple of \(dtype)'s block size \(dtype.blockSize)")
            }
            let (bytes, overflow) = (count / dtype.blockSize).multipliedReportingOverflow(by: dtype.bytesPerBlock)
            guard !overflow else { throw ModelFileError(path, "tensor '\(name)' is too large") }
            let offset = try reader.read(UInt64.self, "offset of '\(name)'")
            guard offset == UInt64(expectedOffset) else {
                throw ModelFileError(path, "tensor '\(name)' data offset \(offset) is not the expected \(expectedOffset) (tensors must be consecutive and \(alignment)-byte aligned)")
            }
            index[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, dtype: dtype, shape: Shape(dims), offset: expectedOffset, byteCount: bytes))
            let (next, overflowNext) = expectedOffset.addingReportingOverflow((bytes + alignment - 1) / alignment * alignment)
            guard !overflowNext else { throw ModelFileError(path, "tensor '\(name)' is too large") }
            expectedOffset = next
        }
        tensorInfos = infos
        self.index = index
        dataStart = (reader.offset + alignment - 1) / alignment * alignment
        if let last = infos.last {
            let end = dataStart + last.offset + last.byteCount
            guard end <= file.byteCount else {
                throw ModelFileError(path, "truncated: tensor data ends at \(end) but the file has \(file.byteCount) bytes")
            }
        }
    }

    /// The metadata value for `key`.
    public subscript(key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

    /// Names of the tensors in file order.
    public var tensorNames: [String] { tensorInfos.map(\.name) }

    /// A zero-copy, read-only view of tensor `name`.
    public func tensor(_ name: String) throws -> Tensor {
        guard let i = index[name] else { throw ModelFileError(path, "no tensor named '\(name)'") }
        let info = tensorInfos[i]
        return try Tensor(viewing: file, offset: dataStart + info.offset, dtype: info.dtype, shape: info.shape)
    }

    static func readString(_ reader: inout ByteReader, _ what: String) throws -> String {
        let length = try reader.read(UInt64.self, "length of \(what)")
        guard length <= UInt64(maxStringBytes), length <= UInt64(reader.remaining) else {
            throw reader.error("\(what) at offset \(reader.offset - 8) claims \(length) bytes, \(reader.remaining) left")
        }
        return try reader.readString(Int(length), what)
    }

    static func readValue(_ reader: inout ByteReader, _ type: GGUFValueType, key: String, budget: inout MemoryBudget, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, key))
        case .int8: return .int8(try reader.read(Int8.self, key))
        case .uint16: return .uint16(try reader.read(UInt16.self, key))
        case .int16: return .int16(try reader.read(Int16.self, key))
        case .uint32: return .uint32(try reader.read(UInt32.self, key))
        case .int32: return .int32(try reader.read(Int32.self, key))
        case .uint64: return .uint64(try reader.read(UInt64.self, key))
        case .int64: return .int64(try reader.read(Int64.self, key))
        case .float32: return .float32(try reader.readFloat(key))
        case .float64: return .float64(try reader.readDouble(key))
        case .bool:
            let raw = try reader.read(UInt8.self, key)
            guard raw <= 1 else { throw reader.error("metadata '\(key)' has bool value \(raw)") }
            return .bool(raw == 1)
        case .string:
            let text = try readString(&reader, "value of '\(key)'")
            try budget.charge(MemoryBudget.stringCost(text), reader)
            return .string(text)
        case .array:
            guard depth < maxNesting else { throw reader.error("metadata '\(key)' nests arrays too deeply") }
            let rawType = try reader.read(UInt32.self, "array type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: rawType) else { throw reader.error("metadata '\(key)' has unknown array type \(rawType)") }
            let count = try reader.read(UInt64.self, "array length of '\(key)'")
            let minimumBytes = UInt64(elementType.fixedSize ?? (elementType == .string ? 8 : 12))
            guard count <= UInt64(maxArrayElements), count <= UInt64(reader.remaining) / minimumBytes else {
                throw reader.error("metadata '\(key)' array of \(count) elements does not fit in the file")
            }
            try budget.charge(MemoryBudget.arrayCost, reader)
            if let size = elementType.fixedSize {
                // Checked element by element (a bool must be 0 or 1), kept as the file's bytes.
                let start = reader.offset
                for _ in 0..<Int(count) { _ = try readValue(&reader, elementType, key: key, budget: &budget, depth: depth + 1) }
                let bytes = Array(UnsafeRawBufferPointer(rebasing: reader.bytes[start..<(start + Int(count) * size)]))
                try budget.charge(bytes.count, reader)
                return .array(GGUFArray(elementType: elementType, packed: bytes))
            }
            // Reserved at once (at most three bytes per file byte the elements must take: a 24-byte value
            // per 8-byte empty string), charged element by element as they are read.
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                try budget.charge(MemoryLayout<GGUFValue>.stride, reader)
                values.append(try readValue(&reader, elementType, key: key, budget: &budget, depth: depth + 1))
            }
            return .array(GGUFArray(elementType, values))
        }
    }

    /// A name for a ggml type id, for error messages.
    static func typeName(_ id: UInt32) -> String {
        if let type = DType(ggufTypeID: id) { return type.description.uppercased() }
        let others: [UInt32: String] = [9: "Q8_1", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 21: "IQ3_S",
                                        22: "IQ2_S", 24: "I8", 25: "I16", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4"]
        return others[id] ?? "unknown"
    }
}

/// The memory that parsed metadata takes, kept within a small multiple of the bytes read so far, so a
/// header crafted to expand (millions of tiny strings or nested arrays) is refused instead of exhausting memory.
struct MemoryBudget {
    /// Allowed: this many times the bytes read, plus a fixed allowance.
    static let bytesPerFileByte = 4, allowance = 1 << 20
    /// Approximate heap cost of an array's buffer beyond its elements.
    static let arrayCost = 64

    private(set) var spent = 0

    /// A string's cost: its storage beyond the 15 bytes Swift keeps inline.
    static func stringCost(_ text: String) -> Int { text.utf8.count > 15 ? 32 + text.utf8.count : 0 }

    /// Adds `bytes`; throws when the total passes the bound for the bytes read so far.
    mutating func charge(_ bytes: Int, _ reader: ByteReader) throws {
        spent += bytes
        guard spent <= Self.bytesPerFileByte * reader.offset + Self.allowance else {
            throw reader.error("metadata would take \(spent) bytes of memory after \(reader.offset) bytes of header; refusing a header built to expand")
        }
    }
}

extension String {
    func replacingPrefix(_ prefix: String) -> String { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self }
}
