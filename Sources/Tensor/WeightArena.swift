import Foundation
import Synchronization

/// One buffer for a model's matmul weights, placed back to back in the order a forward pass reads them.
///
/// Decode streams every weight once per token. Separate allocations cost bandwidth twice: a matrix under
/// 2 MiB gets no huge pages (a page walk per 4 KiB), and each matrix's stream starts cold. Measured on
/// Zen 4 at one thread, 768×768 F16 matrices read at ~22 GB/s on their own and ~30 GB/s here.
/// Matrices of the types with an r8 layout are placed in the 8-row interleaved layouts the matmul kernels read
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

    /// Copies `tensor` into the next free bytes, a matrix of a type with an r8 layout and rows % 8 == 0 in it, and
    /// returns the copy. A file-backed source's pages are released from the resident set. Throws when the
    /// arena has no room left.
    public mutating func place(_ tensor: Tensor) throws -> Tensor {
        let placed = try reserve(tensor)
        Self.fill(placed, from: tensor)
        return placed
    }

    /// Copies every tensor into the arena, in order, as ``place(_:)`` would, the copies spread over all cores
    /// (loading a large model is bound by page faults and packing, both of which scale with cores). Each
    /// source is released as soon as it is copied, so in-memory sources and the arena are never both whole.
    public mutating func placeAll(_ tensors: consuming [Tensor]) throws -> [Tensor] {
        let placed = try tensors.map { try reserve($0) }
        // Largest first, so that no core is left with the head at the end.
        let order = tensors.indices.sorted { tensors[$0].byteCount > tensors[$1].byteCount }
        let sources = UnsafeMutableBufferPointer<Tensor?>.allocate(capacity: tensors.count)
        _ = sources.initialize(fromContentsOf: tensors.map { Optional($0) })
        tensors = []
        defer {
            sources.deinitialize()
            sources.deallocate()
        }
        let next = Atomic<Int>(0)
        nonisolated(unsafe) let slots = sources  // each index is taken by one worker only
        DispatchQueue.concurrentPerform(iterations: min(ProcessInfo.processInfo.activeProcessorCount, max(1, order.count))) { _ in
            while true {
                let k = next.add(1, ordering: .relaxed).oldValue
                guard k < order.count else { return }
                let i = order[k]
                Self.fill(placed[i], from: slots[i]!)
                slots[i] = nil
            }
        }
        return placed
    }

    /// The arena's next free bytes as a view with `tensor`'s shape and its in-arena type (r8 where it
    /// interleaves), contents not yet written.
    private mutating func reserve(_ tensor: Tensor) throws -> Tensor {
        let bytes = Self.footprint(tensor.dtype, tensor.shape)
        guard usedBytes + bytes <= storage.byteCount else {
            throw TensorError("weight arena full: \(tensor.shape) \(tensor.dtype) needs \(bytes) bytes, \(storage.byteCount - usedBytes) left")
        }
        let placed = Tensor(dtype: tensor.interleavedType ?? tensor.dtype, shape: tensor.shape, storage: storage, byteOffset: usedBytes)
        usedBytes += bytes
        return placed
    }

    /// Writes `source` into its reserved view `placed` (packing r8 layouts) and releases a file-backed
    /// source's pages from the resident set.
    private static func fill(_ placed: Tensor, from source: Tensor) {
        if source.interleavedType != nil {
            source.packRows8(into: placed)
        } else {
            source.withUnsafeBytes { src in placed.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        }
        source.storage.releaseResidentPages(source.byteOffset..<(source.byteOffset + source.byteCount))
    }
}
