import Tensor

/// Reads rwkv.cpp's legacy model files (`.bin`, versions 100/101): a 24-byte header, then tensors
/// back to back (dim count, name length, type, dims in ggml order, name, raw data), viewed without copying.
enum RwkvCppReader {
    static let magic: UInt32 = 0x6767_6D66

    struct Header {
        let version: UInt32
        let vocabulary: Int
        let embedding: Int
        let layers: Int
        let dataType: UInt32
    }

    /// The type with rwkv.cpp's own id `id` (they differ from GGUF's).
    static func dtype(_ id: UInt32) -> DType? { DType.allCases.first { $0.traits.rwkvCppTypeID == id } }

    /// The ids this reader knows, for messages.
    static var knownTypes: String {
        DType.allCases.compactMap { type in type.traits.rwkvCppTypeID.map { "\($0) \(type)" } }.joined(separator: ", ")
    }

    static func read(path: String, file: MappedFile) throws -> (Header, [(name: String, tensor: Tensor)]) {
        var reader = ByteReader(path: path, bytes: file.bytes)
        guard try reader.read(UInt32.self, "magic") == magic else { throw ModelFileError(path, "not an rwkv.cpp model file (bad magic)") }
        let version = try reader.read(UInt32.self, "version")
        guard version == 100 || version == 101 else { throw ModelFileError(path, "unsupported rwkv.cpp file version \(version) (need 100 or 101)") }
        let header = Header(version: version,
                            vocabulary: Int(try reader.read(UInt32.self, "n_vocab")),
                            embedding: Int(try reader.read(UInt32.self, "n_embed")),
                            layers: Int(try reader.read(UInt32.self, "n_layer")),
                            dataType: try reader.read(UInt32.self, "data type"))
        var tensors: [(String, Tensor)] = []
        var names = Set<String>()
        while reader.remaining > 0 {
            try Checkpoint.checkTensorCount(tensors.count + 1, path: path)
            let start = reader.offset
            let dimCount = try reader.read(UInt32.self, "dimension count")
            let nameLength = try reader.read(UInt32.self, "name length")
            let typeID = try reader.read(UInt32.self, "data type")
            guard (1...3).contains(dimCount) else { throw ModelFileError(path, "tensor at offset \(start) has \(dimCount) dimensions (need 1…3)") }
            guard nameLength > 0, nameLength <= 1024 else { throw ModelFileError(path, "tensor at offset \(start) has a name of \(nameLength) bytes") }
            guard let dtype = dtype(typeID) else {
                throw ModelFileError(path, "tensor at offset \(start) has rwkv.cpp type \(typeID), which is not supported (\(knownTypes))")
            }
            if dtype.isQuantized && version == 100 {
                throw ModelFileError(path, "quantized tensors of file version 100 use an old layout; re-quantize with a current rwkv.cpp")
            }
            var dims: [Int] = []
            for d in 0..<Int(dimCount) { dims.append(Int(try reader.read(UInt32.self, "dimension \(d)"))) }
            let name = try reader.readString(Int(nameLength), "tensor name")
            guard names.insert(name).inserted else { throw ModelFileError(path, "duplicate tensor '\(name)'") }
            guard let count = Shape.checkedCount(dims), dims[0] % dtype.blockSize == 0 else {
                throw ModelFileError(path, "tensor '\(name)' shape \(dims) is invalid for \(dtype)")
            }
            let (bytes, overflow) = (count / dtype.blockSize).multipliedReportingOverflow(by: dtype.bytesPerBlock)
            guard !overflow else { throw ModelFileError(path, "tensor '\(name)' shape \(dims) is too large") }
            try reader.require(bytes, "data of '\(name)'")
            tensors.append((name, try Tensor(viewing: file, offset: reader.offset, dtype: dtype, shape: Shape(dims))))
            try reader.skip(bytes, "data of '\(name)'")
        }
        try header.check(against: tensors, path: path)
        return (header, tensors)
    }
}

extension RwkvCppReader.Header {
    /// Throws unless the header agrees with the tensors: `emb.weight` is `[n_embed, n_vocab]`, the blocks
    /// number `n_layer`, and the main data type is a known one that `blocks.0.att.key.weight` has.
    func check(against tensors: [(name: String, tensor: Tensor)], path: String) throws {
        guard let main = RwkvCppReader.dtype(dataType) else {
            throw ModelFileError(path, "header data type \(dataType) is not an rwkv.cpp type this reader knows (\(RwkvCppReader.knownTypes))")
        }
        if let embedding = tensors.first(where: { $0.name == "emb.weight" })?.tensor,
           embedding.shape.dims != [self.embedding, vocabulary] {
            throw ModelFileError(path, "header says n_embed \(self.embedding) and n_vocab \(vocabulary), but 'emb.weight' has shape \(embedding.shape)")
        }
        let blocks = tensors.compactMap { RWKV7Tensor.splitLayer($0.name, prefix: "blocks.")?.0 }.max().map { $0 + 1 } ?? 0
        guard blocks == layers else {
            throw ModelFileError(path, "header says n_layer \(layers), but the tensors have \(blocks) blocks")
        }
        if let key = tensors.first(where: { $0.name == "blocks.0.att.key.weight" })?.tensor, key.dtype != main {
            throw ModelFileError(path, "header data type \(dataType) (\(main)) disagrees with 'blocks.0.att.key.weight', which is \(key.dtype)")
        }
    }
}
