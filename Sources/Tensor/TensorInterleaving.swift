import CKernels

/// The r8 layouts: matrices with 8 rows interleaved block by block (see ``DType/q8_0r8``; which types have one is
/// the dtype table's ``DTypeTraits/interleaving``),
/// which the int8 matmul kernels read with one instruction per 8 rows. A copy in memory, never in a file.
extension Tensor {
    /// Whether ``interleavedForMatmul()`` would repack this tensor: a matrix of a type with an r8 layout
    /// (``DType/interleavedLayout``) whose row count is a multiple of 8.
    public var isInterleavable: Bool { interleavedType != nil }

    /// The r8 type this matrix is repacked into, nil where ``isInterleavable`` is false.
    var interleavedType: DType? {
        shape.rank == 2 && shape[1] % 8 == 0 ? dtype.interleavedLayout : nil
    }

    /// This matrix in the r8 layout the matmul kernels read fastest, or the tensor itself where it has none.
    /// A file-backed source's pages are released from the resident set once copied (they are read again
    /// from the file only if the original is used).
    public func interleavedForMatmul() -> Tensor {
        guard isInterleavable, let packed = try? interleavedRows() else { return self }
        storage.releaseResidentPages(byteOffset..<(byteOffset + byteCount))
        return packed
    }

    /// This matrix repacked into its r8 layout (`q8_0r8`, `q4_Kr8`, …); throws for other types or row counts.
    public func interleavedRows() throws -> Tensor {
        guard let type = interleavedType else {
            throw TensorError("cannot interleave a \(dtype) tensor of shape \(shape) by 8 rows (needs one of \(DType.allCases.compactMap(\.interleavedLayout).map { $0.interleavedFrom!.description }.joined(separator: ", ")) and rows % 8 == 0)")
        }
        let out = try Tensor(zeros: type, shape)
        packRows8(into: out)
        return out
    }

    /// Writes this interleavable matrix's r8 layout into `out` (same shape, its r8 type, writable).
    func packRows8(into out: Tensor) {
        precondition(out.dtype == interleavedType && out.shape == shape, "packRows8: mismatched tensors")
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                rwkv_pack_rows8(src.baseAddress!, dst.baseAddress!, Int64(shape[1]), Int64(shape[0]), out.dtype.traits.interleaving!.layout)
            }
        }
    }

    /// An r8 matrix back in its file type's row layout (the bytes ``interleavedRows()`` started from).
    public func deinterleavedRows() throws -> Tensor {
        guard let interleaving = dtype.traits.interleaving else { throw TensorError("a \(dtype) tensor is not row-interleaved") }
        let rowType = interleaving.rows
        let out = try Tensor(zeros: rowType, shape)
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                rwkv_unpack_rows8(src.baseAddress!, dst.baseAddress!, Int64(shape[1]), Int64(shape[0]), interleaving.layout)
            }
        }
        return out
    }
}
