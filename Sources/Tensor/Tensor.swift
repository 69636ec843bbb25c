/// Errors about tensor construction and conversion.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A typed n-dimensional array: dtype, shape (`ne0` fastest) and the storage it lives in.
///
/// Tensors are values; copies share storage. Owned storage is writable through
/// ``withUnsafeMutableBytes(_:)``; file-backed storage is read-only.
public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: Shape
    /// The memory this tensor views (kept alive by the tensor).
    public let storage: TensorStorage
    /// Where the tensor's first byte is in ``storage``.
    public let byteOffset: Int

    /// Bytes of one row (`ne0` elements).
    public var rowBytes: Int { dtype.rowBytes(shape.rowLength) }
    /// Bytes of the whole tensor.
    public var byteCount: Int { rowBytes * shape.rowCount }
    /// Elements in the tensor.
    public var count: Int { shape.count }

    /// Throws unless `shape`'s rows are whole blocks of `dtype` and the byte size is representable.
    public static func validate(dtype: DType, shape: Shape) throws -> Int {
        guard shape.rowLength % dtype.blockSize == 0 else {
            throw TensorError("row length \(shape.rowLength) is not a multiple of \(dtype)'s block size \(dtype.blockSize)")
        }
        if dtype.interleavedFrom != nil, shape.rank != 2 || shape[1] % 8 != 0 {
            throw TensorError("a \(dtype) tensor must be a matrix with a multiple of 8 rows, not \(shape)")
        }
        guard let count = Shape.checkedCount(shape.dims),
              case let (bytes, overflow) = (count / dtype.blockSize).multipliedReportingOverflow(by: dtype.bytesPerBlock),
              !overflow else {
            throw TensorError("shape \(shape) of \(dtype) is too large")
        }
        return bytes
    }

    /// A zero-filled tensor in owned memory.
    public init(zeros dtype: DType, _ shape: Shape) throws {
        let bytes = try Tensor.validate(dtype: dtype, shape: shape)
        self.init(dtype: dtype, shape: shape, storage: TensorStorage(zeroedByteCount: bytes), byteOffset: 0)
    }

    /// An f32 tensor holding `values` (their count must match the shape).
    public init(_ values: [Float], shape: Shape) throws {
        guard values.count == shape.count else {
            throw TensorError("\(values.count) values do not fill shape \(shape)")
        }
        try self.init(zeros: .f32, shape)
        values.withUnsafeBytes { source in withUnsafeMutableBytes { $0.copyMemory(from: source) } }
    }

    /// An i32 tensor holding `values` (e.g. token ids).
    public init(int32 values: [Int32], shape: Shape) throws {
        guard values.count == shape.count else {
            throw TensorError("\(values.count) values do not fill shape \(shape)")
        }
        try self.init(zeros: .i32, shape)
        values.withUnsafeBytes { source in withUnsafeMutableBytes { $0.copyMemory(from: source) } }
    }

    /// A tensor over existing storage; the bytes must lie inside it.
    public init(dtype: DType, shape: Shape, storage: TensorStorage, byteOffset: Int) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.byteOffset = byteOffset
        precondition(byteOffset >= 0 && byteOffset + dtype.rowBytes(shape.rowLength) * shape.rowCount <= storage.byteCount,
                     "tensor bytes outside their storage")
    }

    /// A read-only, zero-copy view of `file` bytes starting at `offset`; throws if they do not fit.
    public init(viewing file: MappedFile, offset: Int, dtype: DType, shape: Shape) throws {
        let bytes = try Tensor.validate(dtype: dtype, shape: shape)
        guard offset >= 0, offset <= file.byteCount, bytes <= file.byteCount - offset else {
            throw TensorError("\(file.path): tensor data [\(offset), +\(bytes)) extends past the end of the file (\(file.byteCount) bytes)")
        }
        self.init(dtype: dtype, shape: shape, storage: TensorStorage(file: file, range: offset..<(offset + bytes)), byteOffset: 0)
    }

    /// Calls `body` with the tensor's bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base + byteOffset, count: byteCount))
    }

    /// A copy of the tensor's bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the tensor's bytes for writing; the storage must be owned (not a file view).
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        precondition(storage.isWritable, "a file-backed tensor is read-only")
        return try body(UnsafeMutableRawBufferPointer(start: storage.base + byteOffset, count: byteCount))
    }

    /// Whether the bytes can be written.
    public var isWritable: Bool { storage.isWritable }

    /// The values as floats (dequantized); i32 values are converted.
    public func floats() -> [Float] {
        if dtype.interleavedFrom != nil, let rows = try? deinterleavedRows() { return rows.floats() }
        var out = [Float](repeating: 0, count: count)
        withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                if dtype == .i32 {
                    for i in 0..<count { dst[i] = Float(raw.load(fromByteOffset: i * 4, as: Int32.self)) }
                    return
                }
                let rows = shape.rowCount, n = shape.rowLength
                for r in 0..<rows { dtype.decode(raw.baseAddress! + r * rowBytes, into: dst.baseAddress! + r * n, count: n) }
            }
        }
        return out
    }

    /// The values of an i32 tensor.
    public func int32s() -> [Int32] {
        precondition(dtype == .i32, "int32s() needs an i32 tensor")
        return withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
    }

    /// This tensor converted row by row to `target` (quantizing with the reference quantizers).
    public func converted(to target: DType) throws -> Tensor {
        if target == dtype { return self }
        if dtype.interleavedFrom != nil { return try deinterleavedRows().converted(to: target) }
        if let rowType = target.interleavedFrom { return try converted(to: rowType).interleavedRows() }
        guard dtype.traits.toFloat != nil, target.traits.fromFloat != nil else { throw TensorError("cannot convert \(dtype) to \(target)") }
        let out = try Tensor(zeros: target, shape)
        let n = shape.rowLength
        var row = [Float](repeating: 0, count: n)
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                row.withUnsafeMutableBufferPointer { buffer in
                    for r in 0..<shape.rowCount {
                        dtype.decode(src.baseAddress! + r * rowBytes, into: buffer.baseAddress!, count: n)
                        target.encode(buffer.baseAddress!, into: dst.baseAddress! + r * out.rowBytes, count: n)
                    }
                }
            }
        }
        return out
    }

    /// The same bytes with another shape of equal element count.
    public func reshaped(_ newShape: Shape) throws -> Tensor {
        guard newShape.count == shape.count, newShape.rowLength % dtype.blockSize == 0,
              dtype.interleavedFrom == nil || newShape == shape else {
            throw TensorError("cannot reshape \(shape) to \(newShape)")
        }
        return Tensor(dtype: dtype, shape: newShape, storage: storage, byteOffset: byteOffset)
    }
}
