import Foundation
import Tensor

/// Reads safetensors files (`.safetensors`, and `.st` as web-rwkv writes them): an 8-byte header length,
/// a JSON header, then the tensor bytes, viewed without copying.
enum SafeTensorsReader {
    static let maxHeaderBytes = 100 << 20

    static func read(path: String, file: MappedFile) throws -> [(name: String, tensor: Tensor)] {
        var reader = ByteReader(path: path, bytes: file.bytes)
        let headerLength = try reader.read(UInt64.self, "safetensors header length")
        guard headerLength <= UInt64(maxHeaderBytes), headerLength <= UInt64(reader.remaining) else {
            throw ModelFileError(path, "safetensors header length \(headerLength) exceeds the file or the 100 MiB limit")
        }
        let json = try reader.readBytes(Int(headerLength), "safetensors header")
        let dataStart = 8 + Int(headerLength)
        let dataBytes = file.byteCount - dataStart
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: Data(json)) } catch {
            throw ModelFileError(path, "safetensors header is not valid JSON")
        }
        guard let header = parsed as? [String: Any] else { throw ModelFileError(path, "safetensors header is not a JSON object") }
        // Keep the file's order of tensors where possible: sort by data offset.
        var tensors: [(name: String, tensor: Tensor, begin: Int)] = []
        for (name, entry) in header where name != "__metadata__" {
            guard let info = entry as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shapeValues = info["shape"] as? [Any], let offsets = info["data_offsets"] as? [Any], offsets.count == 2 else {
                throw ModelFileError(path, "safetensors entry '\(name)' lacks dtype, shape or data_offsets")
            }
            let dtype: DType
            switch dtypeName {
            case "F32": dtype = .f32
            case "F16": dtype = .f16
            case "BF16": dtype = .bf16
            case "I32": dtype = .i32
            default: throw ModelFileError(path, "tensor '\(name)' has dtype \(dtypeName), which is not supported (F32, F16, BF16, I32)")
            }
            let shape = try shapeValues.map { value -> Int in
                guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int >= 0 else {
                    throw ModelFileError(path, "tensor '\(name)' has an invalid shape \(shapeValues)")
                }
                return int
            }
            let bounds = try offsets.map { value -> Int in
                guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int >= 0 else {
                    throw ModelFileError(path, "tensor '\(name)' has invalid data_offsets \(offsets)")
                }
                return int
            }
            guard shape.count <= 4 else { throw ModelFileError(path, "tensor '\(name)' has \(shape.count) dimensions (at most 4)") }
            guard let count = Shape.checkedCount(shape), case let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.bytesPerBlock), !overflow else {
                throw ModelFileError(path, "tensor '\(name)' shape \(shape) overflows")
            }
            guard bounds[0] <= bounds[1], bounds[1] <= dataBytes, bounds[1] - bounds[0] == bytes else {
                throw ModelFileError(path, "tensor '\(name)' data_offsets \(bounds) do not hold \(bytes) bytes inside the \(dataBytes)-byte buffer")
            }
            let dims = shape.isEmpty ? [1] : Array(shape.reversed())
            tensors.append((name, try Tensor(viewing: file, offset: dataStart + bounds[0], dtype: dtype, shape: Shape(dims)), bounds[0]))
        }
        return tensors.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }.map { ($0.name, $0.tensor) }
    }
}
