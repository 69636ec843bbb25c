import Tensor

/// Reads an official PyTorch checkpoint (`torch.save` zip format) without torch or Python: the zip's
/// central directory, a restricted unpickle of `data.pkl`, and zero-copy views of each tensor's storage.
enum PthReader {
    static func read(path: String, file: MappedFile) throws -> [(name: String, tensor: Tensor)] {
        let bytes = file.bytes
        if bytes.count >= 2, bytes[0] == 0x80, bytes[1] == 0x02 {
            throw ModelFileError(path, "legacy (pre-1.6) torch.save format; re-save it with a current torch")
        }
        let zip = try ZipArchive(path: path, bytes: bytes)
        let pickles = zip.entries.filter { $0.name.hasSuffix("/data.pkl") || $0.name == "data.pkl" }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw ModelFileError(path, pickles.isEmpty ? "no data.pkl in the archive: not a torch checkpoint" : "several data.pkl entries in the archive")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        let entries = Dictionary(zip.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        if let order = entries[prefix + "byteorder"] {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[order.data]), as: UTF8.self)
            guard text.hasPrefix("little") else { throw ModelFileError(path, "big-endian checkpoints are not supported") }
        }
        guard pickle.method == 0 else { throw ModelFileError(path, "data.pkl is compressed (method \(pickle.method)); torch stores it uncompressed") }
        var unpickler = RestrictedUnpickler(path: path, bytes: UnsafeRawBufferPointer(rebasing: bytes[pickle.data]))
        guard case .dict(let items, _) = try unpickler.load() else { throw ModelFileError(path, "data.pkl does not hold a state dict") }

        var tensors: [(String, Tensor)] = []
        for (key, value) in items {
            try Checkpoint.checkTensorCount(tensors.count + 1, path: path)
            guard case .string(let name) = key else { throw ModelFileError(path, "state dict key is not a string") }
            guard case .tensor(let t) = value else { throw ModelFileError(path, "'\(name)' is not a tensor") }
            let dtype: DType = switch t.storage.className {
            case "torch.FloatStorage": .f32
            case "torch.HalfStorage": .f16
            default: .bf16
            }
            let itemSize = dtype.bytesPerBlock
            guard let entry = entries[prefix + "data/" + t.storage.key] else {
                throw ModelFileError(path, "'\(name)': storage data/\(t.storage.key) is missing from the archive")
            }
            guard entry.method == 0 else { throw ModelFileError(path, "'\(name)': storage is compressed") }
            let (storageBytes, overflow) = t.storage.elementCount.multipliedReportingOverflow(by: itemSize)
            guard !overflow, storageBytes == entry.data.count else {
                throw ModelFileError(path, "'\(name)': storage holds \(entry.data.count) bytes, expected \(t.storage.elementCount) × \(itemSize)")
            }
            guard let count = Shape.checkedCount(t.size) else { throw ModelFileError(path, "'\(name)': shape \(t.size) overflows") }
            // Row-major contiguity (size-1 dimensions may have any stride).
            var expected = 1
            for d in stride(from: t.size.count - 1, through: 0, by: -1) {
                guard t.size[d] == 1 || t.stride[d] == expected else {
                    throw ModelFileError(path, "'\(name)' is not contiguous (size \(t.size), stride \(t.stride))")
                }
                expected *= t.size[d]
            }
            guard t.storageOffset <= t.storage.elementCount, count <= t.storage.elementCount - t.storageOffset else {
                throw ModelFileError(path, "'\(name)': elements [\(t.storageOffset), +\(count)) exceed its storage of \(t.storage.elementCount)")
            }
            let dims = t.size.isEmpty ? [1] : Array(t.size.reversed())
            guard dims.count <= 4 else { throw ModelFileError(path, "'\(name)' has \(dims.count) dimensions (at most 4)") }
            let tensor = try Tensor(viewing: file, offset: entry.data.lowerBound + t.storageOffset * itemSize, dtype: dtype, shape: Shape(dims))
            tensors.append((name, tensor))
        }
        return tensors
    }
}
