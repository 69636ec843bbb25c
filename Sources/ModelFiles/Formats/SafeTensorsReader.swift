import Tensor

/// Reads safetensors files (`.safetensors`, and `.st` as web-rwkv writes them): an 8-byte header length,
/// a JSON header, then the tensor bytes, viewed without copying.
enum SafeTensorsReader {
    static let maxHeaderBytes = 100 << 20
    static let dtypes: [String: DType] = ["F32": .f32, "F16": .f16, "BF16": .bf16, "I32": .i32]

    static func read(path: String, file: MappedFile) throws -> [(name: String, tensor: Tensor)] {
        var reader = ByteReader(path: path, bytes: file.bytes)
        let headerLength = try reader.read(UInt64.self, "safetensors header length")
        guard headerLength <= UInt64(maxHeaderBytes), headerLength <= UInt64(reader.remaining) else {
            throw ModelFileError(path, "safetensors header length \(headerLength) exceeds the file or the 100 MiB limit")
        }
        let json = try reader.readBytes(Int(headerLength), "safetensors header")
        let dataStart = 8 + Int(headerLength)
        let dataBytes = file.byteCount - dataStart
        var tensors: [(name: String, tensor: Tensor, begin: Int, end: Int)] = []
        try SafeTensorsHeader.parse(json, path: path) { entry in
            let name = entry.name
            guard let dtype = dtypes[entry.dtype] else {
                throw ModelFileError(path, "tensor '\(name)' has dtype \(entry.dtype), which is not supported (F32, F16, BF16, I32)")
            }
            guard entry.shape.count <= 4 else { throw ModelFileError(path, "tensor '\(name)' has \(entry.shape.count) dimensions (at most 4)") }
            guard let count = Shape.checkedCount(entry.shape), case let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.bytesPerBlock), !overflow else {
                throw ModelFileError(path, "tensor '\(name)' shape \(entry.shape) overflows")
            }
            guard entry.begin <= entry.end, entry.end <= dataBytes, entry.end - entry.begin == bytes else {
                throw ModelFileError(path, "tensor '\(name)' data_offsets [\(entry.begin), \(entry.end)] do not hold \(bytes) bytes inside the \(dataBytes)-byte buffer")
            }
            let dims = entry.shape.isEmpty ? [1] : Array(entry.shape.reversed())
            tensors.append((name, try Tensor(viewing: file, offset: dataStart + entry.begin, dtype: dtype, shape: Shape(dims)), entry.begin, entry.end))
        }
        // Keep the file's order of tensors: sort by data offset. No two tensors may share bytes.
        tensors.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for (previous, next) in zip(tensors, tensors.dropFirst()) where next.begin < previous.end {
            throw ModelFileError(path, "tensors '\(previous.name)' [\(previous.begin), \(previous.end)) and '\(next.name)' [\(next.begin), \(next.end)) overlap")
        }
        return tensors.map { ($0.name, $0.tensor) }
    }
}
