import Tensor

/// Writes a GGUF v3 file: metadata in insertion order (`general.architecture` first if present), tensor
/// infos, then each tensor's bytes padded with zeros to the alignment — the layout ggml requires.
public struct GGUFWriter {
    public var metadata: [(key: String, value: GGUFValue)] = []
    public private(set) var tensors: [(name: String, tensor: Tensor)] = []
    public let alignment: Int

    public init(alignment: Int = GGUFFile.defaultAlignment) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.alignment = alignment
    }

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    public mutating func add(_ name: String, _ tensor: Tensor) throws {
        guard !tensors.contains(where: { $0.name == name }) else { throw ModelFileError(name, "tensor added twice") }
        guard name.utf8.count <= GGUFFile.maxNameBytes else { throw ModelFileError(name, "tensor name longer than 63 bytes") }
        guard tensor.dtype.isFileType else { throw ModelFileError(name, "the in-memory type \(tensor.dtype) cannot be written to GGUF") }
        tensors.append((name, tensor))
    }

    /// Writes the file to `path` (atomically: a temporary name renamed on success). `progress` is called
    /// after each tensor with (done, total).
    public func write(to path: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let out = try OutputFile(path: path)
        var header = ByteWriter()
        header.u32(GGUFFile.magic)
        header.u32(3)
        header.u64(UInt64(tensors.count))
        var entries = metadata
        if alignment != GGUFFile.defaultAlignment, !entries.contains(where: { $0.key == "general.alignment" }) {
            entries.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        if let i = entries.firstIndex(where: { $0.key == "general.architecture" }), i > 0 { entries.insert(entries.remove(at: i), at: 0) }
        header.u64(UInt64(entries.count))
        for (key, value) in entries {
            header.string(key)
            header.u32(value.type.rawValue)
            header.value(value)
        }
        var offset = 0
        for (name, tensor) in tensors {
            header.string(name)
            header.u32(UInt32(tensor.shape.rank))
            for d in tensor.shape.dims { header.u64(UInt64(d)) }
            header.u32(tensor.dtype.traits.ggufTypeID!)
            header.u64(UInt64(offset))
            offset += padded(tensor.byteCount)
        }
        header.pad(to: alignment)
        try out.write(header.bytes)
        for (i, (_, tensor)) in tensors.enumerated() {
            try tensor.withUnsafeBytes { try out.write($0) }
            try out.writeZeros(padded(tensor.byteCount) - tensor.byteCount)
            progress?(i + 1, tensors.count)
        }
        try out.commit()
    }

    private func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

/// Little-endian serialisation into a growing byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += s.utf8
    }
    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func value(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): u8(v)
        case .int8(let v): u8(UInt8(bitPattern: v))
        case .uint16(let v): u16(v)
        case .int16(let v): u16(UInt16(bitPattern: v))
        case .uint32(let v): u32(v)
        case .int32(let v): u32(UInt32(bitPattern: v))
        case .uint64(let v): u64(v)
        case .int64(let v): u64(UInt64(bitPattern: v))
        case .float32(let v): u32(v.bitPattern)
        case .float64(let v): u64(v.bitPattern)
        case .bool(let v): u8(v ? 1 : 0)
        case .string(let s): string(s)
        case .array(let values):
            u32(values.elementType.rawValue)
            u64(UInt64(values.count))
            for element in values { self.value(element) }
        }
    }
}
