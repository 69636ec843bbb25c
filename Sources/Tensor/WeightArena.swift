/// One buffer for a model's matmul weights, placed back to back in the order a forward pass reads them.
///
/// Decode streams every weight once per token. Separate allocations cost bandwidth twice: a matrix under
/// 2 MiB gets no huge pages (a page walk per 4 KiB), and each matrix's stream starts cold. Measured on
/// Zen 4 at one thread, 768×768 F16 matrices read at ~22 GB/s on their own and ~30 GB/s here.
/// Q8_0/Q4_0 matrices are placed in the 8-row interleaved layouts the matmul kernels read
/// (``Tensor/interleavedForMatmul()``), packed straight into the arena.
public struct WeightArena {
    /// The buffer (on huge pages from 2 MiB; see ``TensorStorage/init(zeroedByteCount:hugePages:)``).
    public let storage: TensorStorage
    /// Bytes handed out so far.
    public private(set) var usedBytes = 0

    /// Alignment of each placed tensor (a cache line).
    public static let alignment = 64

    /// Reserves `byteCount` bytes (the sum of ``footprint(_:_:)`` over the tensors to be placed).
    public init(byteCount: Int) {
        storage = TensorStorage(zeroedByteCount: max(byteCount, 1), hugePages: true)
    }

    /// Bytes a `dtype` tensor of `shape` takes once placed (the same in its r8 layout), rounded up to the
    /// alignment.
    public static func footprint(_ dtype: DType, _ shape: Shape) -> Int {
        (dtype.rowBytes(shape.rowLength) * shape.rowCount + alignment - 1) / alignment * alignment
    }

    /// Copies `tensor` into the next free bytes, a Q8_0/Q4_0 matrix with rows % 8 == 0 in its r8 layout, and
    /// returns the copy. A file-backed source's pages are released from the resident set. Throws when the
    /// arena has no room left.
    public mutating func place(_ tensor: Tensor) throws -> Tensor {
        let bytes = Self.footprint(tensor.dtype, tensor.shape)
        guard usedBytes + bytes <= storage.byteCount else {
            throw TensorError("weight arena full: \(tensor.shape) \(tensor.dtype) needs \(bytes) bytes, \(storage.byteCount - usedBytes) left")
        }
        let placed: Tensor
        if let interleaved = tensor.interleavedType {
            placed = Tensor(dtype: interleaved, shape: tensor.shape, storage: storage, byteOffset: usedBytes)
            tensor.packRows8(into: placed)
        } else {
            placed = Tensor(dtype: tensor.dtype, shape: tensor.shape, storage: storage, byteOffset: usedBytes)
            tensor.withUnsafeBytes { src in placed.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        }
        tensor.storage.releaseResidentPages(tensor.byteOffset..<(tensor.byteOffset + tensor.byteCount))
        usedBytes += bytes
        return placed
    }
}
